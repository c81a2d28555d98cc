import Testing
import NFTables
import NetworkAddress
@testable import PortForwarding

@Suite("Which conntrack entries a change of masquerade rules makes stale")
struct MasqueradeFlowsTests {
    /// A UDP flow from `source` to a host of another network, with replies going to `repliesTo`
    /// (the source itself when the kernel did not translate it).
    static func flow(from source: String, repliesTo: String? = nil, proto: UInt8 = 17) -> ConntrackFlow {
        let s = IPAddress.parse(source)!, r = IPAddress.parse(repliesTo ?? source)!
        let far = IPAddress.parse(s.family == .ipv4 ? "192.168.90.2" : "fd90::2")!
        return ConntrackFlow(family: s.family, proto: proto, source: s, sourcePort: 40000,
                             destination: far, destinationPort: 7000, replySource: far, replySourcePort: 7000,
                             replyDestination: r, id: 1)
    }

    static func rule(_ subnet: String, outNot: String? = "br0") throws -> MasqueradeRule {
        try MasqueradeRule.parse(subnet: subnet, outNot: outNot)
    }

    @Test("an added rule: the subnet's unmasqueraded UDP flows, to any port; masqueraded ones and other sources stay")
    func added() throws {
        let filters = MasqueradeFlows.filters(added: [try Self.rule("10.88.0.0/24")], removed: [])
        let f = try #require(filters.first)
        #expect(filters.count == 1 && f.family == .ipv4 && f.proto == 17 && f.ports == nil && f.destinations == nil)
        #expect(f.matches(Self.flow(from: "10.88.0.2")))                              // black-holed since it began
        #expect(f.matches(Self.flow(from: "10.88.0.255")))
        #expect(!f.matches(Self.flow(from: "10.88.0.2", repliesTo: "192.168.90.1")))  // already masqueraded
        #expect(!f.matches(Self.flow(from: "10.88.1.2")))
        #expect(!f.matches(Self.flow(from: "10.88.0.2", proto: 6)))
        #expect(!f.matches(Self.flow(from: "fd88::2")))
    }

    @Test("a removed rule: the subnet's masqueraded UDP flows only")
    func removed() throws {
        let filters = MasqueradeFlows.filters(added: [], removed: [try Self.rule("fd88::/64")])
        let f = try #require(filters.first)
        #expect(filters.count == 1 && f.family == .ipv6)
        #expect(f.matches(Self.flow(from: "fd88::2", repliesTo: "fd90::1")))
        #expect(!f.matches(Self.flow(from: "fd88::2")))
        #expect(!f.matches(Self.flow(from: "fd89::2", repliesTo: "fd90::1")))
    }

    @Test("apply changing a subnet's out-not interface clears both kinds; a wider subnet replacing a narrower covers each")
    func changedByApply() throws {
        let same = MasqueradeFlows.filters(added: [try Self.rule("10.88.0.0/24", outNot: nil)], removed: [try Self.rule("10.88.0.0/24")])
        #expect(same.count == 1 && same[0].sourceTranslated == nil)
        #expect(same[0].matches(Self.flow(from: "10.88.0.2")) && same[0].matches(Self.flow(from: "10.88.0.2", repliesTo: "192.168.90.1")))

        let wider = MasqueradeFlows.filters(added: [try Self.rule("10.88.0.0/16")], removed: [try Self.rule("10.88.0.0/24")])
        #expect(wider.count == 2)
        #expect(wider.contains { $0.matches(Self.flow(from: "10.88.0.2", repliesTo: "192.168.90.1")) })   // was masqueraded by the /24
        #expect(wider.contains { $0.matches(Self.flow(from: "10.88.7.2")) })                             // newly covered
        #expect(MasqueradeFlows.describe(added: [try Self.rule("10.88.0.0/16")], removed: [try Self.rule("10.88.0.0/24")])
                == "10.88.0.0/16, 10.88.0.0/24")
    }

    @Test("a filter naming neither ports nor a source subnet selects nothing")
    func unboundedSelectsNothing() {
        var f = ConntrackFilter(family: .ipv4, proto: 17, sourceSubnet: Subnet(network: IPAddress("10.88.0.0")!, prefixLength: 24), sourceTranslated: nil)
        #expect(f.matches(Self.flow(from: "10.88.0.2")))
        f.sourceSubnet = nil
        #expect(!f.isBounded && !f.matches(Self.flow(from: "10.88.0.2")))
    }

    @Test("subnet membership at odd prefix lengths")
    func subnetContains() {
        let s = Subnet(network: IPAddress("10.88.0.0")!, prefixLength: 23)
        #expect(s.contains(IPAddress("10.88.1.200")!) && !s.contains(IPAddress("10.88.2.0")!) && !s.contains(IPAddress("10.89.0.0")!))
        #expect(!s.contains(IPAddress.parse("fd88::1")!))
        let v6 = Subnet(network: IPAddress.parse("fd88::")!, prefixLength: 61)
        #expect(v6.contains(IPAddress.parse("fd88:0:0:7::1")!) && !v6.contains(IPAddress.parse("fd88:0:0:8::1")!))
    }
}
