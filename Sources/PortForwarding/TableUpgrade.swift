import NFTables

/// What a table written by an earlier nftfwd lacks: nftfwd 0.1 tables have the maps and the
/// publish, prerouting and output chains, but neither the masquerade sets nor the guard,
/// hairpin and postrouting chains, and their publish rules do not label what they DNAT. The reader accepts such a table (it holds nothing those
/// objects would), and the next change adds them in its own batch, so upgrading nftfwd never
/// means flushing what is published.
public struct TableUpgrade: Sendable, Equatable {
    public var sets: [SetSpec] = []
    public var chains: [ChainSpec] = []
    /// Handles of the publish chain's unlabelled rules, replaced by the current ones.
    public var publishRuleHandles: [UInt64] = []
    public init() {}

    public var isEmpty: Bool { sets.isEmpty && chains.isEmpty && publishRuleHandles.isEmpty }

    /// The objects added since nftfwd 0.1.
    static let addedSets: Set<String> = Set(TableLayout.MasqueradeSet.allCases.map(\.rawValue))
    static let addedChains: Set<String> = ["guard", "hairpin", "postrouting"]

    /// Exactly the step from 0.1: every added object missing, nothing else.
    var isWholeStep: Bool {
        Set(sets.map(\.name)) == TableUpgrade.addedSets && Set(chains.map(\.name)) == TableUpgrade.addedChains
            && !publishRuleHandles.isEmpty
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
            batch.deleteRule(chain: TableLayout.publishChain, handle: handle, describedAs: "an unlabelled rule of nftfwd 0.1")
        }
        var names = Set(upgrade.chains.map(\.name))
        if !upgrade.publishRuleHandles.isEmpty { names.insert(TableLayout.publishChain) }
        for (rule, what) in TableLayout.rules where names.contains(rule.chain) { batch.addRule(rule, describedAs: what) }
    }
}
