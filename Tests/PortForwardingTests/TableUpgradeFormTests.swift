import Testing
import NFTables
@testable import PortForwarding

/// `TableReader.verifyStructure` compares a publish chain with today's rules first and looks
/// for an earlier form only when they differ. That gives the old outcome only if no earlier
/// form lists exactly as today's rules do (compared as the reader compares, by
/// `ExpressionRecord`s; were one to, the reader would have called today's
/// table that earlier form and rewritten its rules at every change).
@Suite("Earlier publish-rule forms")
struct TableUpgradeFormTests {
    static func records(_ rules: [(rule: RuleSpec, what: String)]) -> [[ExpressionRecord]] {
        rules.filter { $0.rule.chain == TableLayout.publishChain }.map { $0.rule.expressions.map(\.record) }
    }

    @Test("no earlier form lists as today's rules", arguments: TableUpgrade.PublishForm.earlier)
    func earlierFormDiffers(form: TableUpgrade.PublishForm) {
        let today = Self.records(TableLayout.rules)
        #expect(!today.isEmpty)
        #expect(Self.records(TableUpgrade.publishRules(form)) != today)
    }

    @Test("the forms are distinct from each other, so the first match is the only one")
    func formsDistinct() {
        let all = TableUpgrade.PublishForm.earlier.map { Self.records(TableUpgrade.publishRules($0)) }
        for i in all.indices { for j in all.indices where i < j { #expect(all[i] != all[j], "\(i) and \(j)") } }
    }

    @Test("the reader's rules by chain are today's rules, in order")
    func writtenByChain() {
        let chains = Set(TableLayout.rules.map(\.rule.chain))
        #expect(Set(TableReader.written.map(\.chain)) == chains)
        #expect(TableReader.written.count == chains.count, "one entry per chain")
        for chain in chains {
            let today = TableLayout.rules.filter { $0.rule.chain == chain }
            let entry = TableReader.written(in: chain)
            #expect(entry.rules.map(\.rule) == today.map(\.rule))
            #expect(entry.records == today.map { $0.rule.expressions.map(\.record) })
        }
        #expect(TableReader.written(in: "no-such-chain").rules.isEmpty)
    }
}
