import Testing
import TestSupport
import PortForwarding

/// A comment written into nftfwd's table by someone else (`nft add element`), holding a colour
/// escape, a newline and a bidi override: nothing nftfwd prints may carry them raw.
@Suite("Kernel: hostile text in the table is printed escaped", .kernelTest)
struct UntrustedTextTests {
    /// The user part of the element comment, and how nftfwd must print it.
    static let cases: [(String, String)] = [
        ("\u{1b}[31mred\n<3>forged\u{202e}", "\\x1b[31mred\\n<3>forged\\u{202e}"),
        // Only a bidi override: today's main reads this one as a mapping and lists it raw.
        ("abc\u{202e}fed", "abc\\u{202e}fed"),
    ]

    /// No control or bidi character but the newlines ending lines; with `lines`, exactly so many.
    func expectClean(_ text: String, lines: Int? = nil, _ what: String) {
        if let lines { #expect(text.filter { $0 == "\n" }.count == lines, "\(what): \(Untrusted.escape(text))") }
        #expect(!text.unicodeScalars.contains { $0 != "\n" && Untrusted.isUnsafe($0) }, "\(what) holds raw controls: \(Untrusted.escape(text))")
    }

    @Test("ls, ls --json, doctor and the relay's log quote the element's comment escaped", arguments: 0..<cases.count)
    func hostileComment(index: Int) throws {
        let (user, shown) = Self.cases[index]
        let lab = try Lab(hostOnly: "untr\(index)")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        // The same shape nftfwd writes, with the hostile text as the user comment.
        let comment = "9090/tcp -> 198.18.2.2:90 # " + user
        try lab.net.exec(lab.host, ["nft", "add", "element", "inet", "nftfwd", "dnat4_any",
                                    "{ tcp . 9090 counter comment \"\(comment)\" : 198.18.2.2 . 90 }"])
        #expect(try lab.table().contains(user), "nft did not store the comment as given")

        // The table now reads as foreign (nftfwd would never write that comment): every
        // command names the element and quotes its comment, escaped, on one line.
        for args in [["ls"], ["ls", "--json"]] {
            let r = lab.net.run(lab.host, [nftfwdBinary] + args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("has a comment nftfwd cannot read: \"9090/tcp -> 198.18.2.2:90 # \(shown)\""), "\(args): \(Untrusted.escape(r.stderr))")
            expectClean(r.stderr, lines: 1, "\(args) stderr")
            expectClean(r.stdout, lines: 0, "\(args) stdout")
        }
        let doctor = lab.net.run(lab.host, [nftfwdBinary, "doctor"])
        #expect(doctor.stdout.contains("# \(shown)\": nftfwd cannot read table inet nftfwd"), Comment(rawValue: Untrusted.escape(doctor.stdout)))
        expectClean(doctor.stdout, "doctor")
        let doctorJSON = lab.net.run(lab.host, [nftfwdBinary, "doctor", "--json"])
        expectClean(doctorJSON.stdout, "doctor --json")
        // Valid JSON whose table finding quotes the comment as the text output does.
        let checks = try JSON.parse(doctorJSON.stdout)["checks"]
        guard case .array(let findings)? = checks else { Issue.record("doctor --json has no checks"); return }
        let table = findings.first { $0["check"] == .string("table") }
        guard case .string(let message)? = table?["message"] else { Issue.record("no table finding"); return }
        #expect(message.contains("# \(shown)\""), Comment(rawValue: Untrusted.escape(message)))

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
        #expect(warning.contains("# \(shown)\""), Comment(rawValue: Untrusted.escape(String(warning))))
        expectClean(text, "relay log")
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("<3>") || $0.hasPrefix("forged") }, "a forged log line")
    }
}
