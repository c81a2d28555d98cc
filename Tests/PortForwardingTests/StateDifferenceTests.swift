import Testing
@testable import PortForwarding

@Suite("What restore would change")
struct StateDifferenceTests {
    func m(_ host: String, _ target: String, _ comment: String = "") throws -> Mapping {
        try Mapping.parse(host: host, target: target, comment: comment)
    }

    @Test("missing and extra, sorted; a comment-only change is one of each; equal sets are empty")
    func difference() throws {
        let desired = [try m("9090", "10.0.0.3:90"), try m("8080", "10.0.0.2:80", "web"), try m("7070", "10.0.0.4:70")]
        let current = [try m("7070", "10.0.0.4:70"), try m("8080", "10.0.0.2:80"), try m("6060", "10.0.0.5:60")]
        let d = StateDifference(desired: desired, current: current)
        #expect(d.missing == [try m("8080", "10.0.0.2:80", "web"), try m("9090", "10.0.0.3:90")])
        #expect(d.extra == [try m("6060", "10.0.0.5:60"), try m("8080", "10.0.0.2:80")])
        #expect(d.summary == "2 missing, 2 extra")
        #expect(StateDifference(desired: current.reversed(), current: current).isEmpty)
        #expect(StateDifference(desired: [], current: []).summary == "")
    }

    @Test("masquerade rules count only when the desired state has them (a bare array of mappings leaves them alone)")
    func masquerade() throws {
        let a = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        let b = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: nil)
        let d = StateDifference(desired: [], current: [], desiredMasquerade: [a], currentMasquerade: [b])
        #expect(d.missingMasquerade == [a] && d.extraMasquerade == [b])
        #expect(d.lines.map(\.text) == ["masquerade 10.88.0.0/24 out-not br0", "masquerade 10.88.0.0/24"])
        #expect(d.summary == "1 missing, 1 extra")
        #expect(StateDifference(desired: [], current: [], desiredMasquerade: nil, currentMasquerade: [b]).isEmpty)
    }
}
