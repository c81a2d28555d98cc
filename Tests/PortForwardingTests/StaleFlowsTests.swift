import Testing
import NFTables
import NetworkAddress
@testable import PortForwarding

@Suite("Which conntrack entries a change of UDP mappings makes stale")
struct StaleFlowsTests {
    /// The host of these tests: two IPv4 addresses, loopback, and an IPv6 one.
    static let local: [IPAddress] = ["127.0.0.1", "198.18.1.1", "10.88.0.1", "::1", "2001:db8:1::1"].map { IPAddress.parse($0)! }

    static func flow(to destination: String, _ port: UInt16, repliesFrom peer: String, _ peerPort: UInt16, proto: UInt8 = 17) -> ConntrackFlow {
        let d = IPAddress.parse(destination)!, p = IPAddress.parse(peer)!
        let source = IPAddress.parse(d.family == .ipv4 ? "198.18.1.2" : "2001:db8:1::2")!
        return ConntrackFlow(family: d.family, proto: proto,
                             source: source, sourcePort: 40000,
                             destination: d, destinationPort: port,
                             replySource: p, replySourcePort: peerPort, replyDestination: source, id: 1)
    }

    @Test("a removed wildcard mapping: its port on every non-loopback address of its family")
    func removedWildcard() throws {
        let m = try Mapping.parse(host: "5000", target: "198.18.2.2:9000", proto: "udp")
        var asked: [IPAddress.Family] = []
        let filters = try StaleFlows.filters(changed: [m], published: []) { asked.append($0); return Self.local }
        #expect(asked == [.ipv4])
        let f = try #require(filters.first)
        #expect(filters.count == 1 && f.family == .ipv4 && f.proto == 17 && f.ports == [5000])
        #expect(f.destinations == [IPAddress("198.18.1.1")!, IPAddress("10.88.0.1")!])
        // The old target's flow and one black-holed at the host itself both go.
        #expect(f.matches(Self.flow(to: "198.18.1.1", 5000, repliesFrom: "198.18.2.2", 9000)))
        #expect(f.matches(Self.flow(to: "10.88.0.1", 5000, repliesFrom: "10.88.0.1", 5000)))
        // Other ports, loopback, routed addresses, TCP stay.
        #expect(!f.matches(Self.flow(to: "198.18.1.1", 5001, repliesFrom: "198.18.2.2", 9000)))
        #expect(!f.matches(Self.flow(to: "127.0.0.1", 5000, repliesFrom: "127.0.0.1", 5000)))
        #expect(!f.matches(Self.flow(to: "198.18.2.2", 5000, repliesFrom: "198.18.2.2", 5000)))
        #expect(!f.matches(Self.flow(to: "198.18.1.1", 5000, repliesFrom: "198.18.2.2", 9000, proto: 6)))
    }

    @Test("an added mapping spares the flows that already reach its target, port by port over a range")
    func addedRangeSparesItsTarget() throws {
        let m = try Mapping.parse(host: "198.18.1.1:7000-7002", target: "198.18.2.2:9000-9002", proto: "udp")
        let filters = try StaleFlows.filters(changed: [m], published: [m]) { _ in
            Issue.record("a bound mapping needs no local addresses"); return []
        }
        let f = try #require(filters.first)
        #expect(f.destinations == [IPAddress("198.18.1.1")!] && f.ports == [7000, 7001, 7002])
        #expect(!f.matches(Self.flow(to: "198.18.1.1", 7001, repliesFrom: "198.18.2.2", 9001)))
        #expect(f.matches(Self.flow(to: "198.18.1.1", 7001, repliesFrom: "198.18.2.2", 9000)))   // another port's target
        #expect(f.matches(Self.flow(to: "198.18.1.1", 7001, repliesFrom: "198.18.1.1", 7001)))   // began while unpublished
    }

    @Test("apply moving a port: the removed mapping's filter spares the new target's flows too")
    func movedByApply() throws {
        let old = try Mapping.parse(host: "[::]:5000", target: "[2001:db8:2::2]:9000", proto: "udp")
        let new = try Mapping.parse(host: "[::]:5000", target: "[2001:db8:2::3]:9000", proto: "udp")
        let filters = try StaleFlows.filters(changed: [old, new], published: [new]) { _ in Self.local }
        #expect(filters.count == 2 && filters.allSatisfy { $0.family == .ipv6 && $0.destinations == [IPAddress.parse("2001:db8:1::1")!] })
        let stale = Self.flow(to: "2001:db8:1::1", 5000, repliesFrom: "2001:db8:2::2", 9000)
        let current = Self.flow(to: "2001:db8:1::1", 5000, repliesFrom: "2001:db8:2::3", 9000)
        #expect(filters.contains { $0.matches(stale) })
        #expect(!filters.contains { $0.matches(current) })
    }

    @Test("TCP, loopback-bound and cross-family mappings need no cleanup; local addresses are read once per family")
    func whatIsSkipped() throws {
        let skipped = try [
            Mapping.parse(host: "5000", target: "198.18.2.2:9000"),
            Mapping.parse(host: "127.0.0.1:5000", target: "198.18.2.2:9000", proto: "udp"),
            Mapping.parse(host: "[::]:5000", target: "198.18.2.2:9000", proto: "udp"),
        ]
        #expect(StaleFlows.relevant(skipped).isEmpty)
        var asked = 0
        let two = try [Mapping.parse(host: "5000", target: "198.18.2.2:9000", proto: "udp"),
                       Mapping.parse(host: "5001", target: "198.18.2.2:9001", proto: "udp")]
        let filters = try StaleFlows.filters(changed: skipped + two, published: []) { _ in asked += 1; return Self.local }
        #expect(filters.count == 2 && asked == 1)
        #expect(StaleFlows.describe(two) == "5000, 5001/udp")
    }

    @Test("flush: the UDP flows carrying the publish label (100), of either family; the keys of a deleted table, grouped by address")
    func flushFilters() throws {
        let filters = StaleFlows.labelledFilters()
        #expect(filters.map(\.family) == [.ipv4, .ipv6] && filters.allSatisfy { $0.proto == 17 && $0.isBounded })
        func labelled(_ flow: ConntrackFlow, _ bits: [Int]) -> ConntrackFlow {
            var f = flow
            f.labels = [UInt8](repeating: 0, count: 16)
            for bit in bits { f.labels[bit / 8] |= UInt8(1) << UInt8(bit % 8) }
            return f
        }
        let v4 = Self.flow(to: "198.18.1.1", 5000, repliesFrom: "198.18.2.2", 9000)
        let v6 = Self.flow(to: "2001:db8:1::1", 5000, repliesFrom: "2001:db8:2::2", 9000)
        #expect(filters.contains { $0.matches(labelled(v4, [100])) })
        #expect(filters.contains { $0.matches(labelled(v4, [100, 101])) })
        #expect(filters.contains { $0.matches(labelled(v6, [100])) })
        // Unlabelled, labelled by another rule only, or TCP: kept.
        #expect(!filters.contains { $0.matches(v4) })
        #expect(!filters.contains { $0.matches(labelled(v4, [101])) })
        #expect(!filters.contains { $0.matches(labelled(Self.flow(to: "198.18.1.1", 5000, repliesFrom: "198.18.2.2", 9000, proto: 6), [100])) })

        // A 0.1 table's keys: udp wildcard 5000-5001, udp 5353 on one address, tcp 80 (ignored).
        let keys: [(TableLayout.MapName, [UInt8])] = [
            (.dnat4Any, [17, 0, 0, 0, 0x13, 0x88, 0, 0]), (.dnat4Any, [17, 0, 0, 0, 0x13, 0x89, 0, 0]),
            (.dnat4Addr, [198, 18, 1, 3, 17, 0, 0, 0, 0x14, 0xe9, 0, 0]), (.dnat4Any, [6, 0, 0, 0, 0, 80, 0, 0]),
            (.loopback4, [127, 0, 0, 1, 17, 0, 0, 0, 0x13, 0x88, 0, 0]),
        ]
        let ports = StaleFlows.udpHostPorts(keys)
        #expect(ports.count == 3)
        #expect(StaleFlows.describe(ports) == "5000-5001, 198.18.1.3:5353/udp")
        let deleted = try StaleFlows.filters(deleted: ports) { _ in Self.local }
        #expect(deleted.count == 2)
        #expect(deleted.contains { $0.ports == [5000, 5001] && $0.destinations == [IPAddress("198.18.1.1")!, IPAddress("10.88.0.1")!] })
        #expect(deleted.contains { $0.ports == [5353] && $0.destinations == [IPAddress("198.18.1.3")!] })
    }
}
