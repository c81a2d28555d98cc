import Testing
import CNetfilter
@testable import NFTables

/// Attributes nftfwd never sets but a hand edit can (`masquerade random`, `dnat ... persistent`,
/// a redirect without its port flag): the record of such an expression differs from the
/// record of the one nftfwd writes, so `TableReader` refuses the rule as it did by its text.
@Suite("Expression records keep every attribute the text printed")
struct ExpressionRecordTests {
    /// One attribute set to `value` on top of what `expression` makes.
    struct Edit: Sendable, CustomTestStringConvertible {
        var expression: Expression
        var attribute: UInt16
        var value: UInt32
        var testDescription: String { "\(expression) with attribute \(attribute) = \(value)" }
    }

    static let natIPs = UInt32(NF_NAT_RANGE_MAP_IPS)
    static let natPorts = UInt32(NF_NAT_RANGE_PROTO_SPECIFIED)
    static let dnat = Expression.nat(.dnat, family: .ipv4, address: .r1, port: .reg32(1))
    static let edits: [Edit] = [
        Edit(expression: .masquerade, attribute: UInt16(NFTNL_EXPR_MASQ_FLAGS), value: UInt32(NF_NAT_RANGE_PROTO_RANDOM)),
        Edit(expression: .masquerade, attribute: UInt16(NFTNL_EXPR_MASQ_REG_PROTO_MIN), value: Register.r1.rawValue),
        Edit(expression: dnat, attribute: UInt16(NFTNL_EXPR_NAT_FLAGS), value: natIPs | natPorts | UInt32(NF_NAT_RANGE_PERSISTENT)),
        Edit(expression: dnat, attribute: UInt16(NFTNL_EXPR_NAT_REG_ADDR_MAX), value: Register.r2.rawValue),
        Edit(expression: .redirect(port: .r1), attribute: UInt16(NFTNL_EXPR_REDIR_FLAGS), value: 0),
        Edit(expression: .fibDestinationType(into: .r1), attribute: UInt16(NFTNL_EXPR_FIB_FLAGS), value: UInt32(NFTA_FIB_F_SADDR.rawValue)),
        Edit(expression: .byteorderToNetwork(.r1, length: 2, size: 2), attribute: UInt16(NFTNL_EXPR_BYTEORDER_OP),
             value: UInt32(NFT_BYTEORDER_NTOH.rawValue)),
    ]

    /// The record and libnftnl's text of `expression` as made, after `edit` changed it.
    func read(_ expression: Expression, _ edit: (OpaquePointer) -> Void) -> (record: ExpressionRecord, text: String) {
        let e = expression.make()
        defer { nftnl_expr_free(e) }
        edit(e)
        return (ExpressionRecord.read(e), Expression.text(of: e))
    }

    @Test("masquerade, nat, redirect, fib and byteorder with another flag or register read differently", arguments: edits)
    func editedReadsDifferently(edit: Edit) {
        let plain = read(edit.expression) { _ in }
        let edited = read(edit.expression) { nftnl_expr_set_u32($0, edit.attribute, edit.value) }
        #expect(edited.text != plain.text)
        #expect(edited.record != plain.record, "\(edited.record)")
        if case .other = edited.record { Issue.record("\(edited.record) keeps only the name") }
    }
}
