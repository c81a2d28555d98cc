import ArgumentParser
import PortForwarding

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List published mappings with their packet and byte counters.",
        discussion: """
        Counters count the packets that created a connection through the kernel's DNAT (NAT \
        looks at the first packet of each connection). KERNEL says whether the kernel forwards \
        the mapping (dnat) or only the userland relay can (relay-only: loopback host addresses).
        --json prints what 'nftfwd apply' reads.

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
        if json {
            Console.out(MappingFile.render(snapshot.mappings))
            return
        }
        if !snapshot.exists {
            Console.out("nothing published (table inet \(global.table) does not exist)\n")
            return
        }
        Console.out(ListCommand.table(snapshot.mappings))
    }

    static func table(_ rows: [PublishedMapping]) -> String {
        let header = ["PROTO", "FAMILY", "HOST", "TARGET", "KERNEL", "PACKETS", "BYTES", "COMMENT"]
        let body = rows.map { p in
            [p.mapping.proto.rawValue, p.mapping.hostFamily.rawValue, p.mapping.hostText, p.mapping.target.description,
             p.mapping.isRelayOnly ? "relay-only" : "dnat", "\(p.packets)", "\(p.bytes)", p.mapping.comment]
        }
        let all = [header] + body
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
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
