import Testing
import TestSupport
import PortForwarding

/// Comments written into nftfwd's table by someone else (`nft add element`) holding terminal
/// escapes, a newline and a bidi override: nothing nftfwd prints may carry them raw.
@Suite("Kernel: hostile text in the table is printed escaped", .kernelTest)
struct UntrustedTextTests {
    /// No control or bidi character but the newlines ending lines; with `lines`, exactly so many.
    func expectClean(_ text: String, lines: Int? = nil, _ what: String) {
        if let lines { #expect(text.filter { $0 == "\n" }.count == lines, "\(what): \(Untrusted.escape(text))") }
        #expect(!text.unicodeScalars.contains { $0 != "\n" && Untrusted.isUnsafe($0) }, "\(what) holds raw controls: \(Untrusted.escape(text))")
    }

    /// Publishes 8080 with nftfwd, then adds an element for 9090 the way nftfwd would, with
    /// `user` as the user's part of its comment.
    func plant(_ lab: Lab, user: String) throws {
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let comment = "9090/tcp -> 198.18.2.2:90 # " + user
        try lab.net.exec(lab.host, ["nft", "add", "element", "inet", "nftfwd", "dnat4_any",
                                    "{ tcp . 9090 counter comment \"\(comment)\" : 198.18.2.2 . 90 }"])
        #expect(try lab.table().contains(user), "nft did not store the comment as given")
    }

    @Test("ESC [ 31m, a newline and U+202E: the table reads as foreign; ls, ls --json, doctor and the relay's log quote the comment escaped, on one line")
    func foreignComment() throws {
        let lab = try Lab(hostOnly: "untrf")
        defer { lab.destroy() }
        try plant(lab, user: "\u{1b}[31mred\n<3>forged\u{202e}")
        let shown = "# \\x1b[31mred\\n<3>forged\\u{202e}\""

        for args in [["ls"], ["ls", "--json"]] {
            let r = lab.net.run(lab.host, [nftfwdBinary] + args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("has a comment nftfwd cannot read: \"9090/tcp -> 198.18.2.2:90 \(shown)"), "\(args): \(Untrusted.escape(r.stderr))")
            expectClean(r.stderr, lines: 1, "\(args) stderr")
            expectClean(r.stdout, lines: 0, "\(args) stdout")
        }
        let doctor = lab.net.run(lab.host, [nftfwdBinary, "doctor"])
        #expect(doctor.stdout.contains("\(shown): nftfwd cannot read table inet nftfwd"), Comment(rawValue: Untrusted.escape(doctor.stdout)))
        expectClean(doctor.stdout, "doctor")
        // doctor --json: valid JSON, whose table finding quotes the comment as the text does.
        let doctorJSON = lab.net.run(lab.host, [nftfwdBinary, "doctor", "--json"])
        expectClean(doctorJSON.stdout, "doctor --json")
        guard case .array(let findings)? = try JSON.parse(doctorJSON.stdout)["checks"],
              case .string(let message)? = findings.first(where: { $0["check"] == .string("table") })?["message"] else {
            Issue.record("doctor --json has no table finding: \(Untrusted.escape(doctorJSON.stdout))")
            return
        }
        #expect(message.contains(shown), Comment(rawValue: Untrusted.escape(message)))

        // The relay keeps running on a table it cannot read, and logs why: one line.
        let log = "/tmp/\(lab.net.prefix)-relay.log"
        defer { _ = Command.run(["rm", "-f", log]) }
        _ = try #require(lab.net.background(lab.host, [nftfwdBinary, "relay"], log: log))
        let logged = TestNetwork.waitUntil(timeout: 20) {
            Command.run(["cat", log]).stdout.contains("changed outside nftfwd")
        }
        #expect(logged, "the relay logged no warning about the table in 20 s")
        let text = Command.run(["cat", log]).stdout
        let warning = try #require(text.split(separator: "\n").first { $0.contains("changed outside nftfwd") })
        #expect(warning.contains(shown), Comment(rawValue: Untrusted.escape(String(warning))))
        expectClean(text, "relay log")
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("<3>") || $0.hasPrefix("forged") }, "a forged log line")
    }

    /// A C1 CSI (U+009B, which some terminals take for ESC [) and U+202E were accepted in
    /// comments before nftfwd refused them: such a table stays readable and lists escaped.
    @Test("C1 CSI and U+202E in a comment an earlier nftfwd accepted: ls lists it escaped, ls --json as \\u escapes, rm names it escaped")
    func legacyComment() throws {
        let lab = try Lab(hostOnly: "untrl")
        defer { lab.destroy() }
        let user = "abc\u{9b}31mred\u{202e}fed"
        try plant(lab, user: user)

        let ls = try lab.nftfwdOK("ls")
        expectClean(ls.stdout, lines: 3, "ls")
        let row = try #require(ls.stdout.split(separator: "\n").first { $0.hasPrefix("tcp") && $0.contains("9090") })
        #expect(row.hasSuffix("  abc\\u{9b}31mred\\u{202e}fed"), Comment(rawValue: Untrusted.escape(String(row))))

        let json = try lab.nftfwdOK("ls", "--json")
        expectClean(json.stdout, "ls --json")
        #expect(json.stdout.contains(#""comment": "abc\u009b31mred\u202efed""#), Comment(rawValue: Untrusted.escape(json.stdout)))
        guard case .array(let mappings)? = try JSON.parse(json.stdout)["mappings"] else {
            Issue.record("ls --json has no mappings")
            return
        }
        #expect(mappings.contains { $0["comment"] == .string(user) }, "the JSON does not read back as the comment")

        let rm = try lab.nftfwdOK("rm", "9090")
        #expect(rm.stdout == "removed 9090/tcp -> 198.18.2.2:90 (abc\\u{9b}31mred\\u{202e}fed)\n", Comment(rawValue: Untrusted.escape(rm.stdout)))
    }
}
