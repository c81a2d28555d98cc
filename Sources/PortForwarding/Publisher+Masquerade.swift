import NetworkAddress
import NFTables

extension Publisher {
    public enum MasqueradeOutcome: Sendable, Equatable { case added, alreadyPresent }

    /// Adds an outbound masquerade rule. Idempotent for the same rule; a different rule for an
    /// overlapping subnet (including the same subnet with another out-not interface) is refused.
    /// Once added, UDP flows from the subnet that began unmasqueraded lose their conntrack
    /// entries (`MasqueradeFlows`), so a stream that kept sending is masqueraded at once.
    public func addMasquerade(_ rule: MasqueradeRule) throws(PublishError) -> MasqueradeOutcome {
        let outcome = try retryingOnRestart { () throws(PublishError) -> MasqueradeOutcome in
            let generation = try nft.generation()
            let structure = try structure(at: generation)
            let exists = structure != nil
            var current: [MasqueradeRule] = []
            let upgrade = structure ?? TableUpgrade()
            if exists {
                if upgrade.isEmpty { current = try reader.masqueradeRules() }
            }
            if current.contains(rule) { return .alreadyPresent }
            if let other = current.first(where: { $0.subnet.overlaps(rule.subnet) }) {
                throw PublishError.mapping(.invalid("masquerade \(rule) overlaps the existing masquerade \(other): remove it first (nftfwd masquerade rm \(other.subnet))"))
            }
            var batch = Batch(table: layout.table)
            if exists { layout.upgrade(upgrade, in: &batch) } else { layout.create(in: &batch) }
            addElements(of: rule, to: &batch)
            try commit(batch, generation)
            return .added
        }
        if outcome == .added { clearStaleFlows(removed: [], added: [], masqueradeAdded: [rule]) }
        return outcome
    }

    /// Removes the masquerade rule of exactly `subnet`. Returns it; throws `.notFound` if none.
    /// UDP flows from the subnet that were masqueraded lose their conntrack entries.
    @discardableResult
    public func removeMasquerade(_ subnet: Subnet) throws(PublishError) -> MasqueradeRule {
        let rule = try retryingOnRestart { () throws(PublishError) -> MasqueradeRule in
            let generation = try nft.generation()
            var current: [MasqueradeRule] = []
            if let structure = try structure(at: generation), structure.isEmpty {
                current = try reader.masqueradeRules()
            }
            guard let rule = current.first(where: { $0.subnet == subnet }) else {
                let near = current.filter { $0.subnet.overlaps(subnet) }.map(\.description)
                let hint = near.isEmpty ? "'nftfwd masquerade ls' lists them" : "overlapping: " + near.joined(separator: ", ")
                throw PublishError.mapping(.notFound("no masquerade rule for exactly \(subnet): \(hint)"))
            }
            var batch = Batch(table: layout.table)
            deleteElements(of: rule, from: &batch)
            try commit(batch, generation)
            return rule
        }
        clearStaleFlows(removed: [], added: [], masqueradeRemoved: [rule])
        return rule
    }

    func addElements(of rule: MasqueradeRule, to batch: inout Batch) {
        for (set, element) in TableLayout.elements(for: rule) {
            batch.addElement(element, to: set.rawValue, describedAs: "masquerade \(rule)")
        }
    }

    func deleteElements(of rule: MasqueradeRule, from batch: inout Batch) {
        for (set, element) in TableLayout.elements(for: rule) {
            batch.deleteElement(element, from: set.rawValue, describedAs: "masquerade \(rule)")
        }
    }
}
