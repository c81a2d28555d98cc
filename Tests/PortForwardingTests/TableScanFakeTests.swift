import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// The relay reads a map too large to dump cheaply by point lookups (`TableReader+Scan`):
/// it must find the same mappings the whole dump finds, and leave to the dump what it
/// cannot vouch for, so a tampered table is still refused.
@Suite("Table reads on the in-memory kernel: the relay's scan of a large map")
struct TableScanFakeTests {
    let table = TableLayout(name: "nftfwd").table

    func published() throws -> (NFTablesFake, Publisher) {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        for (host, target, proto) in [("8000-8099", "10.0.0.2:9000-9099", "tcp"), ("8050", "10.0.0.3:53", "udp"), ("1", "10.0.0.4:1", "tcp"),
                                      ("65500-65535", "10.0.0.5:65500-65535", "udp"), ("[::]:7000-7010", "[2001:db8::2]:7000-7010", "tcp"),
                                      ("10.0.0.1:5000", "10.0.0.6:5000", "tcp")] {
            #expect(try publisher.add(try Mapping.parse(host: host, target: target, proto: proto)) == .added)
        }
        return (fake, publisher)
    }

    func scanned(_ fake: NFTablesFake) throws(PublishError) -> [String] {
        try TableReader(layout: TableLayout(name: "nftfwd"), session: fake, scanningMapsAbove: 10).snapshot().mappings.map(\.mapping.description)
    }

    @Test("the scan finds every mapping the dump finds (ranges, single ports, both ends of the port space, IPv6, an address-bound map dumped)")
    func sameMappings() throws {
        let (fake, publisher) = try published()
        let dumped = try publisher.list().mappings.map(\.mapping.description)
        #expect(dumped.count == 6)
        #expect(try scanned(fake) == dumped)
    }

    @Test("a range missing its first or its last port is left to the whole dump, which refuses the table")
    func tamperedRange() throws {
        for port: UInt16 in [8000, 8099] {
            let (fake, _) = try published()
            fake.tamper { ruleset in
                let t = ruleset.index(table)!, s = ruleset.tables[t].setIndex("dnat4_any")!
                ruleset.tables[t].sets[s].elements.removeAll { $0.key == TableLayout.key(address: nil, proto: .tcp, port: port) }
            }
            #expect(throws: PublishError.self) { try scanned(fake) }
        }
    }
}
