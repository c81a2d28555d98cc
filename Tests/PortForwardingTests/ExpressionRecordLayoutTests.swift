import Testing
import NFTables
@testable import PortForwarding

/// `TableReader.verifyStructure` compares rules as `ExpressionRecord`s (attribute values), no
/// longer as libnftnl's printed text. That keeps every refusal only if the records tell apart
/// whatever the text told apart: every expression nftfwd writes, today or in an earlier form,
/// reads as a case of its own (never `.other`, which keeps only the name), and two
/// expressions have the same record exactly when they have the same text.
@Suite("Rule records stand in for libnftnl's text")
struct ExpressionRecordLayoutTests {
    /// Today's rules and every earlier publish form nftfwd recognises.
    static var written: [Expression] {
        (TableLayout.rules + TableUpgrade.PublishForm.earlier.flatMap(TableUpgrade.publishRules)).flatMap(\.rule.expressions)
    }

    /// Neighbours of what nftfwd writes, each one attribute away (what a hand edit would make).
    static let neighbours: [Expression] = [
        .nat(.dnat, family: .ipv4, address: .r1, port: .reg32(2)), .nat(.snat, family: .ipv4, address: .r1, port: .reg32(1)),
        .nat(.dnat, family: .ipv6, address: .r1, port: .reg32(1)), .nat(.dnat, family: .ipv4, address: .r2, port: .reg32(1)),
        .nat(.dnat, family: .ipv4, address: .r1, port: nil), .redirect(port: .r2), .redirect(port: .reg32(1)),
        .fibDestinationType(into: .r2), .fibDestinationViaInputInterface(into: .r2),
        .byteorderToNetwork(.r1, length: 4, size: 2), .byteorderToNetwork(.r1, length: 2, size: 4), .byteorderToNetwork(.r2, length: 2, size: 2),
        .lookup(map: "dnat4_any", from: .r1, into: .r2), .lookup(map: "dnat4_addr", from: .r1, into: .r1),
        .member(set: "allow4", from: .r1), .notMember(set: "allow4", from: .r1),
        .compare(.r1, .eq, [2, 0, 0, 0]), .compare(.r1, .neq, [2, 0, 0, 0]), .compare(.r1, .eq, [2]), .compare(.r2, .eq, [2]),
        .payload(.network, offset: 16, length: 4, into: .r1), .payload(.transport, offset: 16, length: 4, into: .r1),
        .payload(.network, offset: 12, length: 4, into: .r1), .payload(.network, offset: 16, length: 2, into: .r1),
        .meta(.l4proto, into: .r1), .meta(.nfproto, into: .r1), .meta(.l4proto, into: .r2),
        .conntrack(.state, into: .r1), .conntrack(.status, into: .r1), .conntrackSet(.labels, from: .r1), .conntrackSet(.labels, from: .r3),
        .immediate(.r1, [1]), .immediate(.r1, [2]), .immediate(.r2, [1]),
        .bitwise(.r1, mask: [0xff, 0, 0, 0], xor: [0, 0, 0, 0]), .bitwise(.r1, mask: [0xff, 0xff, 0, 0], xor: [0, 0, 0, 0]),
        .verdict(.accept), .verdict(.drop), .verdict(.return), .verdict(.jump("publish")), .verdict(.jump("guard")),
        .masquerade, .counter,
    ]

    @Test("every expression nftfwd writes reads back as a modelled case, never as a bare name")
    func noBareNames() {
        for expression in Self.written {
            if case .other(let name) = expression.record { Issue.record("\(expression) reads as .other(\(name))") }
        }
    }

    @Test("two expressions have the same record exactly when libnftnl prints them the same")
    func sameRecordSameText() {
        let all = Self.written + Self.neighbours
        let pairs = all.map { (text: $0.fingerprint, record: $0.record) }
        for i in pairs.indices {
            for j in pairs.indices where i < j && (pairs[i].text == pairs[j].text) != (pairs[i].record == pairs[j].record) {
                Issue.record("\(all[i]) and \(all[j]): text equal \(pairs[i].text == pairs[j].text), record equal \(pairs[i].record == pairs[j].record)")
            }
        }
    }
}
