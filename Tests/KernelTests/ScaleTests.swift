import Testing
import TestSupport

/// 10,000 mappings in one apply: one batch, sized to the socket buffer, no ENOBUFS.
@Suite("Kernel: 10,000 mappings", .kernelTest)
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
        let lab = try Lab(hostOnly: "10k")
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
}
