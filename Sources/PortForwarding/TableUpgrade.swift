import NFTables

/// What a table written by an earlier nftfwd lacks: nftfwd 0.1 tables have the maps and the
/// publish, prerouting and output chains, but neither the masquerade sets nor the guard,
/// hairpin and postrouting chains, and their publish rules do not label what they DNAT. The reader accepts such a table (it holds nothing those
/// objects would), and the next change adds them in its own batch, so upgrading nftfwd never
/// means flushing what is published.
public struct TableUpgrade: Sendable, Equatable {
    public var sets: [SetSpec] = []
    public var chains: [ChainSpec] = []
    /// Handles of the publish chain's rules when they are an earlier form (`publishForm`),
    /// replaced by the current ones.
    public var publishRuleHandles: [UInt64] = []
    public var publishForm: PublishForm?

    /// Publish rules nftfwd reads but rewrites at the next change.
    public enum PublishForm: Sendable, Equatable {
        /// nftfwd 0.1's: the DNAT rules set no label.
        case version01
        /// The current rules after `nft list ruleset > f; nft -f f`: nft prints the label
        /// before the map and so compiles it before the lookup, where it labels every new
        /// connection that reaches the rule, not only those the map translates.
        case nftReloaded
    }
    public init() {}

    public var isEmpty: Bool { sets.isEmpty && chains.isEmpty && publishRuleHandles.isEmpty }

    /// The objects added since nftfwd 0.1.
    static let addedSets: Set<String> = Set(TableLayout.MasqueradeSet.allCases.map(\.rawValue))
    static let addedChains: Set<String> = ["guard", "hairpin", "postrouting"]

    /// Exactly the step from 0.1: every added object missing, nothing else.
    var isWholeStep: Bool {
        switch publishForm {
        case .version01?:
            return Set(sets.map(\.name)) == TableUpgrade.addedSets && Set(chains.map(\.name)) == TableUpgrade.addedChains
        case .nftReloaded?:
            return sets.isEmpty && chains.isEmpty
        case nil:
            return false
        }
    }

    /// The publish rules as `form` has them.
    static func publishRules(_ form: PublishForm) -> [(rule: RuleSpec, what: String)] {
        switch form {
        case .version01:
            return TableLayout.publishRules(labelled: false)
        case .nftReloaded:
            let label = TableLayout.labelBits(TableLayout.publishedLabel)
            return TableLayout.publishRules(labelled: true).map { entry in
                let e = entry.rule.expressions
                guard e.contains(where: { if case .lookup = $0 { return true }; return false }), e.count > 2 else { return entry }
                // nfproto check, then the label through register 1, then the rest without ours.
                let rest = e.dropFirst(2).filter {
                    if case .immediate(.r3, _) = $0 { return false }
                    if case .conntrackSet(.labels, from: .r3) = $0 { return false }
                    return true
                }
                var rule = entry.rule
                rule.expressions = Array(e.prefix(2)) + [.immediate(.r1, label), .conntrackSet(.labels, from: .r1)] + rest
                return (rule: rule, what: entry.what)
            }
        }
    }
}

extension TableLayout {
    /// Adds what an earlier table lacks (nothing for a current one): sets, then chains with
    /// their rules, as `create` would have.
    public func upgrade(_ upgrade: TableUpgrade, in batch: inout Batch) {
        guard !upgrade.isEmpty else { return }
        for set in upgrade.sets { batch.addSet(set) }
        for chain in upgrade.chains { batch.addChain(chain) }
        for handle in upgrade.publishRuleHandles {
            batch.deleteRule(chain: TableLayout.publishChain, handle: handle,
                             describedAs: upgrade.publishForm == .nftReloaded ? "a rule as nft reloaded it" : "an unlabelled rule of nftfwd 0.1")
        }
        var names = Set(upgrade.chains.map(\.name))
        if !upgrade.publishRuleHandles.isEmpty { names.insert(TableLayout.publishChain) }
        for (rule, what) in TableLayout.rules where names.contains(rule.chain) { batch.addRule(rule, describedAs: what) }
    }
}
