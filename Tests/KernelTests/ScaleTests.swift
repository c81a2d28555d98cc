import NFTables
import Testing
import TestSupport

/// 10,000 mappings in one apply: one batch, sized to the socket buffer, no ENOBUFS.
@Suite("Kernel: 10,000 mappings, 100,000 and the whole port space", .kernelTest)
struct ScaleTests {
    static func file(_ count: Int, firstPort: Int = 10000, extra: String = "") -> String {
        var entries = (0..<count).map { i in
            "{\"proto\": \"\(i % 2 == 0 ? "tcp" : "udp")\", \"host\": \"\(firstPort + i)\", \"target\": \"198.18.2.2:\(firstPort + i)\"}"
        }
        if !extra.isEmpty { entries.append(extra) }
        return "[" + entries.joined(separator: ",\n") + "]\n"
    }

    @Test("apply publishes 10,000 in one batch, ls lists them all, rm leaves 9,999, a bad file changes nothing")
    func tenThousand() throws {
        // Labels start with a letter: in "nft<pid>10k1-h" the label's digits run into the pid's,
        // so the orphan sweep of any other test process took the namespace for a dead
        // process's and killed this test's commands (exit 137).
        let lab = try Lab(hostOnly: "tenk")
        defer { lab.destroy() }
        let applied = try lab.nftfwdOK("apply", "-", stdin: Self.file(10_000))
        #expect(applied.stdout == "applied 10000 mapping(s): 10000 added, 0 removed, 0 unchanged\n")
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.components("\"host\"") == 10_000)
        // The kernel holds them too: one element each.
        let kernel = try lab.net.exec(lab.host, ["nft", "-j", "list", "map", "inet", "nftfwd", "dnat4_any"]).stdout
        #expect(kernel.components("\"elem\": {\"val\"") == 10_000)

        try lab.nftfwdOK("rm", "10000")
        #expect(try lab.nftfwdOK("ls", "--json").stdout.components("\"host\"") == 9_999)

        // Round trip: what ls --json prints, apply takes back without a change.
        let again = try lab.nftfwdOK("apply", "-", stdin: try lab.nftfwdOK("ls", "--json").stdout)
        #expect(again.stdout == "applied 9999 mapping(s): 0 added, 0 removed, 9999 unchanged; 0 masquerade rule(s): 0 added, 0 removed\n")

        let before = try lab.ruleset()
        let bad = lab.nftfwd("apply", "-", stdin: Self.file(10_000, extra: "{\"host\": \"70000\", \"target\": \"198.18.2.2:1\"}"))
        #expect(bad.status == 1)
        #expect(bad.stderr == "nftfwd: entry 10001: host: port 70000 is out of range: use 1-65535\n")
        let conflicting = lab.nftfwd("apply", "-", stdin: Self.file(10_000, extra: "{\"host\": \"10004\", \"target\": \"198.18.2.3:1\"}"))
        #expect(conflicting.status == 1)
        #expect(try lab.ruleset() == before)

        // A 10,000-port range: added, found again by 10,000 point lookups, removed at once.
        try lab.nftfwdOK("add", "40000-49999", "198.18.2.2:40000-49999", "--proto", "udp")
        #expect(try lab.nftfwdOK("add", "40000-49999", "198.18.2.2:40000-49999", "--proto", "udp").stdout
                == "already published: 40000-49999/udp -> 198.18.2.2:40000-49999\n")
        try lab.nftfwdOK("rm", "40000-49999", "--proto", "udp")

        // And apply of a different set replaces everything in one go.
        let replaced = try lab.nftfwdOK("apply", "-", stdin: Self.file(5, firstPort: 30000))
        #expect(replaced.stdout == "applied 5 mapping(s): 5 added, 9999 removed, 0 unchanged\n")
    }

    /// 100,000 mappings, half tcp and half udp, ports 10000-59999 of each.
    static func hundredThousand() -> String {
        let entries = ["tcp", "udp"].flatMap { proto in
            (10000..<60000).map { "{\"proto\": \"\(proto)\", \"host\": \"\($0)\", \"target\": \"198.18.2.2:80\"}" }
        }
        return "[" + entries.joined(separator: ",\n") + "]\n"
    }

    /// The elements of one map, as the kernel lists them.
    static func elementCount(_ lab: Lab, _ map: String) throws -> Int {
        try lab.net.exec(lab.host, ["nft", "-j", "list", "map", "inet", "nftfwd", map]).stdout.components("\"elem\": {\"val\"")
    }

    @Test("apply of 100,000, then of the same file again: the second sends no batch (the generation stays)")
    func sameHundredThousandAgain() throws {
        let lab = try Lab(hostOnly: "hundredk")
        defer { lab.destroy() }
        let document = Self.hundredThousand()
        #expect(try lab.nftfwdOK("apply", "-", stdin: document).stdout
                == "applied 100000 mapping(s): 100000 added, 0 removed, 0 unchanged\n")
        #expect(try Self.elementCount(lab, "dnat4_any") == 100_000)
        #expect(try lab.nftfwdOK("ls", "--json").stdout.components("\"host\"") == 100_000)
        let generation = try inNamespace(lab.host) { try NFTables().generation() }
        let again = try lab.nftfwdOK("-v", "apply", "-", stdin: document)
        #expect(again.stdout == "applied 100000 mapping(s): 0 added, 0 removed, 100000 unchanged\n")
        #expect(!again.stderr.contains("sending one batch"), "\(again.stderr)")
        #expect(again.stderr.contains("the table holds exactly this file since the last apply"), "decided without reading the 100,000 elements")
        #expect(try inNamespace(lab.host) { try NFTables().generation() } == generation, "no batch was committed")
    }

    @Test("flush of 100,000 mappings removes the table and everything in it")
    func flushHundredThousand() throws {
        let lab = try Lab(hostOnly: "flush100k")
        defer { lab.destroy() }
        try lab.nftfwdOK("apply", "-", stdin: Self.hundredThousand())
        let flushed = try lab.nftfwdOK("-v", "flush")
        #expect(flushed.stdout == "removed table inet nftfwd\n")
        #expect(try lab.ruleset() == "")
        #expect(try lab.nftfwdOK("ls", "--json").stdout.components("\"host\"") == 0)
        #expect(try lab.nftfwdOK("flush").stdout == "nothing to flush: table inet nftfwd does not exist\n")
    }

    @Test("every port of the space: tcp and udp, IPv4 and IPv6, 1-65535 (262,140 elements) in one apply, listed back, DNAT through the last port")
    func wholePortSpace() throws {
        let lab = try Lab("ports", targetPorts: "80,65535")
        defer { lab.destroy() }
        let document = """
            [{"proto": "tcp", "host": "1-65535", "target": "198.18.2.2:1-65535"},
             {"proto": "udp", "host": "1-65535", "target": "198.18.2.2:1-65535"},
             {"proto": "tcp", "host": "1-65535", "target": "[2001:db8:2::2]:1-65535"},
             {"proto": "udp", "host": "1-65535", "target": "[2001:db8:2::2]:1-65535"}]
            """
        let applied = lab.nftfwd("apply", "-", stdin: document)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout == "applied 4 mapping(s): 4 added, 0 removed, 0 unchanged\n")
        #expect(!applied.stderr.contains("ENOBUFS"))
        // The last port of the space, both protocols and both families (first: the target's
        // server lives 120 s, and listing 262,140 elements on a loaded machine takes a while).
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 65535) == "tcp 65535 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "udp", "198.18.1.1", 65535) == "udp 65535 from 198.18.1.2")
        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::1", 65535) == "tcp 65535 from 2001:db8:1::2")
        #expect(lab.ask(from: lab.client, "udp", "2001:db8:1::1", 65535) == "udp 65535 from 2001:db8:1::2")
        // Listed back complete: every element in the kernel, every mapping in ls.
        #expect(try Self.elementCount(lab, "dnat4_any") == 131_070)
        #expect(try Self.elementCount(lab, "dnat6_any") == 131_070)
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(listed.components("\"host\": \"1-65535\"") == 4, "\(listed)")
        #expect(listed.components("\"target\": \"198.18.2.2:1-65535\"") == 2, "\(listed)")
        #expect(listed.components("\"target\": \"[2001:db8:2::2]:1-65535\"") == 2, "\(listed)")
        // The same document again: nothing to change.
        #expect(try lab.nftfwdOK("apply", "-", stdin: document).stdout
                == "applied 4 mapping(s): 0 added, 0 removed, 4 unchanged\n")
    }
}
