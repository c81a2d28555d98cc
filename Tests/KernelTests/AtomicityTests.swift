import Testing
import TestSupport
import NFTables
import PortForwarding

/// A refused change changes nothing: not the kernel, not what nftfwd reports.
@Suite("Kernel: refused changes leave everything as it was", .kernelTest)
struct AtomicityTests {
    @Test("a batch the kernel rejects leaves the ruleset byte-identical and names the element and errno")
    func rejectedBatch() throws {
        let lab = try Lab(hostOnly: "rej")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let before = try lab.ruleset()
        let error = try inNamespace(lab.host) { () -> String in
            let nft = try NFTables()
            let layout = TableLayout(name: "nftfwd")
            let fresh = try Mapping.parse(host: "9090", target: "198.18.2.2:90")
            let taken = try Mapping.parse(host: "8080", target: "198.18.2.2:80")
            var batch = Batch(table: layout.table)
            batch.addElement(TableLayout.elements(for: fresh)[0], to: "dnat4_any", describedAs: "9090/tcp")
            batch.addElement(TableLayout.elements(for: taken)[0], to: "dnat4_any", describedAs: "8080/tcp")
            do {
                try nft.commit(batch, expectingGeneration: nil)
                return "committed"
            } catch {
                return "\(error)"
            }
        }
        #expect(error == "kernel rejected 'add element 8080/tcp': File exists (EEXIST)")
        #expect(try lab.ruleset() == before)
    }

    @Test("a batch computed against an old generation is refused (ERESTART) and changes nothing")
    func staleGeneration() throws {
        let lab = try Lab(hostOnly: "gen")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let outcome = try inNamespace(lab.host) { () -> String in
            let nft = try NFTables()
            let old = try nft.generation()
            var first = Batch(table: TableSpec(name: "nftfwd", family: .inet))
            first.addElement(TableLayout.elements(for: try Mapping.parse(host: "1", target: "198.18.2.2:1"))[0], to: "dnat4_any", describedAs: "1/tcp")
            try nft.commit(first, expectingGeneration: old)                 // moves the generation on
            var second = Batch(table: TableSpec(name: "nftfwd", family: .inet))
            second.addElement(TableLayout.elements(for: try Mapping.parse(host: "2", target: "198.18.2.2:2"))[0], to: "dnat4_any", describedAs: "2/tcp")
            do { try nft.commit(second, expectingGeneration: old); return "committed" } catch { return "\(error)" }
        }
        #expect(outcome.contains("ERESTART"))
        let listed = try lab.nftfwdOK("ls").stdout
        #expect(listed.contains("198.18.2.2:1\n") || listed.contains("198.18.2.2:1 "))
        #expect(!listed.contains("198.18.2.2:2 ") && !listed.contains("198.18.2.2:2\n"))
    }

    @Test("bad input exits 1 with one clear line and changes nothing", arguments: [
        (["add", "0", "198.18.2.2:80"], "nftfwd: host: port 0 is out of range: use 1-65535\n"),
        (["add", "70000", "198.18.2.2:80"], "nftfwd: host: port 70000 is out of range: use 1-65535\n"),
        (["add", "8080", "198.18.2.2:80", "--proto", "icmp"], "nftfwd: unknown protocol 'icmp': use tcp, udp or sctp\n"),
        (["add", "8080", "[2001:db8::2]:80", "--proto", "udp"], ""),  // fine: other protocol and family
        (["add", "8075-8085", "198.18.2.2:75-85"], "nftfwd: 8075-8085/tcp -> 198.18.2.2:75-85 conflicts with the published mapping 8080/tcp -> 198.18.2.2:80: remove it first (nftfwd rm) or pick another host port\n"),
        (["add", "198.18.1.1:8080", "198.18.2.3:80"], "nftfwd: 198.18.1.1:8080/tcp -> 198.18.2.3:80 conflicts with the published mapping 8080/tcp -> 198.18.2.2:80: remove it first (nftfwd rm) or pick another host port\n"),
        (["add", "198.18.1.1:8080", "[2001:db8::2]:80"], "nftfwd: 198.18.1.1:8080/tcp -> [2001:db8::2]:80 conflicts with the published mapping 8080/tcp -> 198.18.2.2:80: remove it first (nftfwd rm) or pick another host port\n"),
        (["add", "[::]:8080", "198.18.2.2:80"], ""),  // fine: IPv6 clients to an IPv4 target, relay-only
        (["rm", "8081"], "nftfwd: nothing is published on exactly 8081/tcp: 'nftfwd ls' lists what is published\n"),
        (["rm", "8080-8081"], "nftfwd: nothing is published on exactly 8080-8081/tcp: published nearby: 8080/tcp -> 198.18.2.2:80\n"),
    ])
    func badInput(args: [String], message: String) throws {
        let lab = try Lab(hostOnly: "bad")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let before = try lab.ruleset()
        let result = lab.net.run(lab.host, [nftfwdBinary] + args)
        if message.isEmpty {
            #expect(result.status == 0, "\(result)")
            return
        }
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == message)
        #expect(try lab.ruleset() == before)
    }

    @Test("re-adding an identical mapping succeeds and changes nothing")
    func idempotentAdd() throws {
        let lab = try Lab(hostOnly: "idem")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--comment", "web")
        let before = try lab.ruleset()
        let again = try lab.nftfwdOK("add", "0.0.0.0:8080", "198.18.2.2:80", "--comment", "web")
        #expect(again.stdout == "already published: 8080/tcp -> 198.18.2.2:80 (web)\n")
        #expect(try lab.ruleset() == before)
    }

    @Test("a table changed by someone else is reported, not guessed at (exit 2)")
    func foreignChanges() throws {
        let lab = try Lab(hostOnly: "frgn")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.net.exec(lab.host, ["nft", "add element inet nftfwd dnat4_any { tcp . 9999 : 198.18.2.9 . 99 }"])
        let listed = lab.nftfwd("ls")
        #expect(listed.status == 2)
        #expect(listed.stderr.contains("was changed outside nftfwd: element 0x06000000270f0000 of map dnat4_any has no nftfwd comment"))
        // add reads only what it could collide with (so it costs the same at any size): on the
        // foreign element's own port it refuses; apply, which reads everything, refuses too.
        let before = try lab.ruleset()
        let add = lab.nftfwd("add", "9999", "198.18.2.2:99")
        #expect(add.status == 2)
        #expect(add.stderr.contains("has no nftfwd comment"))
        #expect(lab.nftfwd("apply", "-", stdin: "[]").status == 2)
        #expect(try lab.ruleset() == before)

        try lab.net.exec(lab.host, ["nft", "delete element inet nftfwd dnat4_any { tcp . 9999 }"])
        try lab.net.exec(lab.host, ["nft", "add rule inet nftfwd publish counter"])
        let rules = lab.nftfwd("ls")
        #expect(rules.status == 2)
        #expect(rules.stderr.contains("chain 'publish' has 12 rules where nftfwd wrote 11"))
        try lab.nftfwdOK("flush")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.net.exec(lab.host, ["nft", "chain inet nftfwd prerouting { policy drop; }"])
        let policy = lab.nftfwd("ls")
        #expect(policy.status == 2)
        #expect(policy.stderr.contains("chain 'prerouting' has another policy"))
        try lab.nftfwdOK("flush")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
    }

    @Test("without CAP_NET_ADMIN: exit 2 and a message that says what is needed")
    func notRoot() throws {
        let lab = try Lab(hostOnly: "priv")
        defer { lab.destroy() }
        let result = lab.net.run(lab.host, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                            nftfwdBinary, "add", "8080", "198.18.2.2:80"])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("needs CAP_NET_ADMIN"))
        #expect(try lab.ruleset() == "")
    }
}
