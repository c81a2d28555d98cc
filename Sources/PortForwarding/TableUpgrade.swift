import NFTables

/// What a table written by an earlier nftfwd lacks: nftfwd 0.2 tables lack the allow-list
/// sets and their drop rules in the publish chain; nftfwd 0.1 tables have the maps and the
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
    /// The `match` elements a 0.3 table lacks, derived from its `allow` elements: added in
    /// the same batch as the sets and rules, so no restricted client is refused in between.
    public var elements: [(set: String, element: Element)] = []
    /// A 0.4 table: its `loopback` chain has the TCP redirect rules only; the next change
    /// appends the UDP ones (layout 0.5), after which loopback UDP clients are redirected too.
    public var loopbackUDPMissing = false

    /// Publish rules nftfwd reads but rewrites at the next change.
    public enum PublishForm: Sendable, Equatable {
        /// nftfwd 0.1's: the DNAT rules set no label.
        case version01
        /// nftfwd 0.2's: labelled, but without the allow-list drop rules.
        case version02
        /// 0.2's rules after `nft list ruleset > f; nft -f f` (see `nftReloaded`).
        case nftReloaded02
        /// nftfwd 0.3's (layout 3): the drop rules look the source up in the `allow` range
        /// sets (pipapo, whose cost grows with the elements) rather than the `match` sets.
        case version03
        /// 0.3's rules after `nft list ruleset > f; nft -f f`.
        case nftReloaded03
        /// The current rules after `nft list ruleset > f; nft -f f`: nft prints the label
        /// before the map and so compiles it before the lookup, where it labels every new
        /// connection that reaches the rule, not only those the map translates.
        case nftReloaded

        /// Every earlier form, in the order the reader tries them.
        static let earlier: [PublishForm] = [.version01, .version02, .nftReloaded02, .version03, .nftReloaded03, .nftReloaded]
    }
    public init() {}

    public static func == (a: TableUpgrade, b: TableUpgrade) -> Bool {
        a.sets == b.sets && a.chains == b.chains && a.publishRuleHandles == b.publishRuleHandles && a.publishForm == b.publishForm
            && a.elements.map(\.set) == b.elements.map(\.set) && a.elements.map(\.element) == b.elements.map(\.element)
            && a.loopbackUDPMissing == b.loopbackUDPMissing
    }

    public var isEmpty: Bool { sets.isEmpty && chains.isEmpty && publishRuleHandles.isEmpty && !loopbackUDPMissing }

    /// The sets added in nftfwd 0.2 (masquerade) and 0.3 (allow-lists).
    static let masqueradeSets: Set<String> = Set(TableLayout.MasqueradeSet.allCases.map(\.rawValue))
    static let accessSets: Set<String> = Set(TableLayout.AccessSet.allCases.map(\.name))
    /// The sets added in layout 0.4 (the hashed allow-lists).
    static let matchSets: Set<String> = Set(TableLayout.AccessSet.matchSets.map(\.name))
    /// nftfwd 0.4's loopback redirect: two maps and one chain, added together.
    static let redirectSets: Set<String> = Set(TableLayout.RedirectMap.allCases.map(\.rawValue))
    static let redirectChains: Set<String> = [TableLayout.loopbackChain]
    static let addedSets = masqueradeSets.union(accessSets).union(redirectSets)
    static let addedChains: Set<String> = Set(["guard", "hairpin", "postrouting"]).union(redirectChains)

    /// Whether the table has the loopback redirect (absent from tables of 0.3 and earlier).
    public var hasRedirect: Bool { !sets.contains { TableUpgrade.redirectSets.contains($0.name) } }
    /// Whether its loopback chain redirects UDP too (not a table of 0.4 or earlier).
    public var hasUDPRedirect: Bool { hasRedirect && !loopbackUDPMissing }

    /// Exactly the step from 0.1, 0.2 or 0.3: every object added since missing, nothing else.
    /// The redirect objects (0.4) are missing all together or not at all, at any earlier step.
    var isWholeStep: Bool {
        // 0.4 lacks only the UDP redirect rules (its publish rules possibly as nft reloaded them).
        if loopbackUDPMissing { return sets.isEmpty && chains.isEmpty && (publishForm == nil || publishForm == .nftReloaded) }
        var missingSets = Set(sets.map(\.name)), missingChains = Set(chains.map(\.name))
        let redirectSets = missingSets.intersection(TableUpgrade.redirectSets)
        let redirectChains = missingChains.intersection(TableUpgrade.redirectChains)
        let redirectMissing = redirectSets == TableUpgrade.redirectSets && redirectChains == TableUpgrade.redirectChains
        guard redirectMissing || (redirectSets.isEmpty && redirectChains.isEmpty) else { return false }
        missingSets.subtract(TableUpgrade.redirectSets)
        missingChains.subtract(TableUpgrade.redirectChains)
        switch publishForm {
        case .version01?:
            return missingSets == TableUpgrade.addedSets.subtracting(TableUpgrade.redirectSets)
                && missingChains == TableUpgrade.addedChains.subtracting(TableUpgrade.redirectChains)
        case .version02?, .nftReloaded02?:
            return missingSets == TableUpgrade.accessSets && missingChains.isEmpty
        case .version03?, .nftReloaded03?:
            return missingSets == TableUpgrade.matchSets && missingChains.isEmpty
        case .nftReloaded?:
            return missingSets.isEmpty && missingChains.isEmpty
        case nil:
            return redirectMissing && missingSets.isEmpty && missingChains.isEmpty   // hashed allow-lists, no redirect yet
        }
    }

    /// Whether the table has the masquerade sets / the allow-list sets (a table of 0.1 has
    /// neither, one of 0.2 only the first).
    public var hasMasqueradeSets: Bool { !sets.contains { TableUpgrade.masqueradeSets.contains($0.name) } }
    public var hasAccessSets: Bool { !sets.contains { TableUpgrade.accessSets.subtracting(TableUpgrade.matchSets).contains($0.name) } }
    /// Whether the table has the `match` sets (one of 0.3 lacks them: its reader checks no `match` element).
    public var hasMatchSets: Bool { !sets.contains { TableUpgrade.matchSets.contains($0.name) } }

    /// The publish rules as `form` has them.
    static func publishRules(_ form: PublishForm) -> [(rule: RuleSpec, what: String)] {
        switch form {
        case .version01:
            return TableLayout.publishRules(labelled: false, restricting: false)
        case .version02:
            return TableLayout.publishRules(labelled: true, restricting: false)
        case .version03:
            return TableLayout.publishRules(labelled: true, hashed: false)
        case .nftReloaded, .nftReloaded02, .nftReloaded03:
            let label = TableLayout.labelBits(TableLayout.publishedLabel)
            return TableLayout.publishRules(labelled: true, restricting: form != .nftReloaded02, hashed: form == .nftReloaded).map { entry in
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
    func upgrade(_ upgrade: TableUpgrade, in batch: inout Batch) {
        guard !upgrade.isEmpty else { return }
        for set in upgrade.sets { batch.addSet(set) }
        for (set, element) in upgrade.elements { batch.addElement(element, to: set, describedAs: "an element of \(set) for the allow-list of layout 0.3") }
        for chain in upgrade.chains { batch.addChain(chain) }
        for handle in upgrade.publishRuleHandles {
            batch.deleteRule(chain: TableLayout.publishChain, handle: handle,
                             describedAs: TableUpgrade.describe(upgrade.publishForm))
        }
        var names = Set(upgrade.chains.map(\.name))
        if !upgrade.publishRuleHandles.isEmpty { names.insert(TableLayout.publishChain) }
        for (rule, what) in TableLayout.rules where names.contains(rule.chain) { batch.addRule(rule, describedAs: what) }
        // Appended after the chain's TCP rules: the order `create` writes them in.
        if upgrade.loopbackUDPMissing {
            for (rule, what) in TableLayout.redirectRules(.udp) { batch.addRule(rule, describedAs: what) }
        }
    }
}

extension TableUpgrade {
    static func describe(_ form: PublishForm?) -> String {
        switch form {
        case .version01?: return "an unlabelled rule of nftfwd 0.1"
        case .version02?: return "a rule of nftfwd 0.2"
        case .version03?: return "a rule of nftfwd 0.3"
        default: return "a rule as nft reloaded it"
        }
    }
}
