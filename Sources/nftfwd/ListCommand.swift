import ArgumentParser
import PortForwarding
import PublishedRelay

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List published mappings with their counters and the relay's view.",
        discussion: """
        PACKETS and BYTES count the connections the kernel's DNAT created (NAT sees the first \
        packet of each). KERNEL says whether the kernel forwards the mapping (dnat) or only the \
        userland relay can (relay-only: loopback host addresses, IPv6 to IPv4; relay:proxy-v1 \
        or relay:proxy-v2: 'add --proxy-protocol', the relay serves every client, remote ones \
        too, and sends the target a PROXY header first; nothing is served while it does not \
        run). RELAY is what \
        'nftfwd relay' does with it: listening, an error it retries, not running, not answering \
        (something holds its status socket but gave no status), or - for \
        mappings it does not serve; CONNS its active/total connections (UDP: flows).
        Once a mapping has an allow-list ('add --allow'), ALLOW lists its networks (any: \
        everyone) and REFUSED counts the connections from other sources that the kernel \
        dropped, then after a + those the relay refused (loopback clients; UDP: datagrams).
        Masqueraded subnets ('nftfwd masquerade') follow the mappings.
        --json prints what 'nftfwd apply' reads: {"mappings": [...], "masquerade": [...]}.

        Examples:
          nftfwd ls
          nftfwd ls --json > published.json
        """,
        aliases: ["list"]
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print JSON (the format 'nftfwd apply' reads).")
    var json = false

    func run() throws {
        let snapshot = try global.publisher().list()
        let answer = StatusChannel.ask(table: global.table)
        var relay: RelayStatus?
        var absent = "not running"
        switch answer {
        case .status(let status): relay = status
        case .noRelay, .notTrusted: break
        // Something holds the relay's socket but said nothing useful: not "not running".
        case .noAnswer: absent = "not answering"
        }
        let summaries = relay?.summaries() ?? [:]
        func relayView(_ p: PublishedMapping) -> RelayStatus.Summary? {
            guard RelayPlan.serves(p.mapping) else { return nil }
            guard relay != nil else { return RelayStatus.Summary(state: absent, active: 0, total: 0) }
            return summaries[p.mapping.label] ?? RelayStatus.Summary(state: "starting", active: 0, total: 0)
        }
        ForwardingOption.warn(about: snapshot.mappings.map(\.mapping), table: global.table, command: "add")
        if json {
            Console.out(MappingFile.render(snapshot) { p in
                guard let r = relayView(p) else { return [("relay", .null)] }
                return [("relay", .object([("state", .string(r.state)), ("active", .number(Double(r.active))),
                                            ("total", .number(Double(r.total))), ("refused", .number(Double(r.refused)))]))]
            })
            return
        }
        if !snapshot.exists {
            Console.out("nothing published (table inet \(global.table) does not exist)\n")
            return
        }
        if let problem = relay?.problem { Console.error("nftfwd: the relay reports: \(problem)") }
        if case .noAnswer(let why) = answer { Console.error("nftfwd: the relay is not answering: \(why)") }
        if case .notTrusted(let uid, let pid) = answer {
            Console.error("nftfwd: warning: " + StatusChannel.untrusted(table: global.table, uid: uid, pid: pid))
        }
        if snapshot.mappings.isEmpty {
            Console.out("no port is published\n")
        } else {
            Console.out(ListCommand.table(snapshot.mappings, relay: relayView))
        }
        if !snapshot.masquerade.isEmpty {
            Console.out("\nmasquerade:\n" + MasqueradeList.table(snapshot.masquerade))
        }
    }

    static func table(_ rows: [PublishedMapping], relay: (PublishedMapping) -> RelayStatus.Summary?) -> String {
        // The allow-list columns appear once some mapping has one.
        let restricted = rows.contains { !$0.mapping.allow.isEmpty }
        let header = ["PROTO", "FAMILY", "HOST", "TARGET"] + (restricted ? ["ALLOW"] : [])
            + ["KERNEL", "PACKETS", "BYTES"] + (restricted ? ["REFUSED"] : []) + ["RELAY", "CONNS", "COMMENT"]
        let body = rows.map { p -> [String] in
            let r = relay(p)
            let allow = p.mapping.allow.isEmpty ? "any" : p.mapping.allow.map(\.description).joined(separator: ",")
            return [p.mapping.proto.rawValue, p.mapping.hostFamily.rawValue, p.mapping.hostText, p.mapping.target.description]
                + (restricted ? [allow] : [])
                + [ListCommand.kernelCell(p.mapping), "\(p.packets)", "\(p.bytes)"]
                + (restricted ? [ListCommand.refused(p, relay: r)] : [])
                + [r?.state ?? "-", r.map { "\($0.active)/\($0.total)" } ?? "-", p.mapping.comment]
        }
        return columns([header] + body)
    }

    /// `dnat`, `relay-only`, or for a PROXY-protocol mapping `relay:proxy-v1`: the relay
    /// serves every client of it, remote ones too (no DNAT element).
    static func kernelCell(_ mapping: Mapping) -> String {
        if let version = mapping.proxyProtocol { return "relay:proxy-\(version.rawValue)" }
        return mapping.isRelayOnly ? "relay-only" : "dnat"
    }

    /// The REFUSED cell: the kernel's drops, and the relay's refusals after a '+' when it
    /// refused any (loopback clients never reach the kernel's check).
    static func refused(_ p: PublishedMapping, relay: RelayStatus.Summary?) -> String {
        guard !p.mapping.allow.isEmpty else { return "-" }
        guard let relayed = relay?.refused, relayed > 0 else { return "\(p.refusedPackets)" }
        return "\(p.refusedPackets)+\(relayed)"
    }

    /// Rows aligned in columns two spaces apart; the last column is not padded. Cells are
    /// escaped (`Untrusted.escape`): they hold what the kernel's table holds.
    static func columns(_ raw: [[String]]) -> String {
        let all = raw.map { $0.map(Untrusted.escape) }
        // Widths counted once per cell, in bytes when the cell is ASCII (Character counting
        // was a third of listing 10,000 mappings).
        let counts = all.map { $0.map { $0.utf8.allSatisfy { $0 < 0x80 } ? $0.utf8.count : $0.count } }
        let widths = all[0].indices.map { i in counts.map { $0[i] }.max() ?? 0 }
        return all.indices.map { r in
            let row = all[r]
            return row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - counts[r][i] + 2)
            }.joined().trimmingTrailingSpaces
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
