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
}
