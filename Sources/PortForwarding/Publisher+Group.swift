import NFTables

/// Operations on a group of mappings that belong together (a container's, a proxy's), each
/// one batch: what the CNI plugin and nftfwd-proxy's publishing need.
extension Publisher {
    public struct GroupOutcome: Sendable, Equatable {
        /// Mappings the batch added.
        public var added: [Mapping] = []
        /// Mappings that were already published exactly so (comment included): left alone.
        public var unchanged: [Mapping] = []
        /// Published mappings the batch deleted because `takingOver` accepted them.
        public var replaced: [Mapping] = []
        /// Masquerade rules the batch added (those already present are left alone).
        public var masqueradeAdded: [MasqueradeRule] = []
        public init() {}
    }

    /// Publishes all of `mappings` (and adds the masquerade rules not yet present) in one
    /// batch, or changes nothing. Idempotent: a mapping published exactly so is left alone.
    ///
    /// A published mapping that conflicts with one of `mappings` (the same one with another
    /// comment included) fails the whole group, unless `takingOver` accepts it: then it is
    /// deleted in the same batch (a mapping whose owner is gone, say). Reads only what could
    /// conflict, as `add` does, with the lookups of the whole group in one round trip per map.
    public func publish(_ mappings: [Mapping], masquerade: [MasqueradeRule] = [],
                        takingOver: (Mapping) -> Bool = { _ in false }) throws(PublishError) -> GroupOutcome {
        try PublishError.checking { () throws(MappingError) in try Publisher.checkNoConflicts(mappings) }
        try PublishError.checking { () throws(MappingError) in try MasqueradeRule.checkNoOverlaps(masquerade) }
        let outcome = try retryingOnRestart { () throws(PublishError) -> GroupOutcome in
            let generation = try nft.generation()
            let structure = try structure(at: generation)
            let exists = structure != nil
            var nearby: [Mapping] = []
            var rules: [MasqueradeRule] = []
            let upgrade = structure ?? TableUpgrade()
            if exists {
                nearby = try rivals(of: mappings)
                // A table from before masquerade has no sets yet: the upgrade adds them empty.
                if !masquerade.isEmpty && upgrade.sets.isEmpty { rules = try reader.masqueradeRules() }
            }
            var outcome = GroupOutcome()
            var doomed: Set<Mapping> = []
            let present = Set(nearby)
            for mapping in mappings {
                if present.contains(mapping) { outcome.unchanged.append(mapping); continue }
                for other in nearby where other.label == mapping.label || other.conflicts(with: mapping) {
                    // The same mapping with another owner's comment is a conflict too: a
                    // group never takes what another owner published.
                    if takingOver(other) { doomed.insert(other); continue }
                    throw PublishError.mapping(.conflict(new: mapping.description, existing: other.description))
                }
                outcome.added.append(mapping)
            }
            for rule in masquerade where !rules.contains(rule) {
                if let other = rules.first(where: { $0.subnet.overlaps(rule.subnet) }) {
                    throw PublishError.mapping(.invalid("masquerade \(rule) overlaps the existing masquerade \(other): remove it first (nftfwd masquerade rm \(other.subnet))"))
                }
                outcome.masqueradeAdded.append(rule)
            }
            outcome.replaced = doomed.sorted()
            guard !outcome.added.isEmpty || !outcome.replaced.isEmpty || !outcome.masqueradeAdded.isEmpty else { return outcome }
            var batch = Batch(table: layout.table)
            if exists { layout.upgrade(upgrade, in: &batch) } else { layout.create(in: &batch) }
            for mapping in outcome.replaced { deleteElements(of: mapping, from: &batch) }
            for mapping in outcome.added { addElements(of: mapping, to: &batch) }
            for rule in outcome.masqueradeAdded { addElements(of: rule, to: &batch) }
            try commit(batch, generation)
            return outcome
        }
        clearStaleFlows(removed: outcome.replaced, added: outcome.added, masqueradeAdded: outcome.masqueradeAdded)
        return outcome
    }

    /// Removes, in one batch, every published mapping `owned` accepts, and returns them; none
    /// (or no table) is not an error, so this is idempotent. Ownership is in the comments,
    /// which no key can look up, so this reads the whole table, unless `near` names the
    /// mappings the owner published: then only what could conflict with them is read (point
    /// lookups, as `publish` does), and the cost does not grow with the table.
    @discardableResult
    public func removeAll(where owned: (Mapping) -> Bool, near: [Mapping]? = nil) throws(PublishError) -> [Mapping] {
        let removed = try retryingOnRestart { () throws(PublishError) -> [Mapping] in
            var generation = try nft.generation()
            var upgrade = TableUpgrade()
            var candidates: [Mapping] = []
            if let near {
                guard let structure = try structure(at: generation) else { return [] }
                upgrade = structure
                candidates = try rivals(of: near)
            } else {
                let snapshot = try reader.snapshot()
                generation = snapshot.generation
                upgrade = snapshot.upgrade
                candidates = snapshot.mappings.map(\.mapping)
            }
            let victims = candidates.filter(owned)
            guard !victims.isEmpty else { return [] }
            try commitRemoval(of: victims, upgrade: upgrade, generation)
            return victims
        }
        clearStaleFlows(removed: removed, added: [])
        return removed
    }

    /// The published mappings that could conflict with any of `mappings`: `probes` of each,
    /// merged so that each map is looked up once (or read once, when a wildcard needs it all).
    func rivals(of mappings: [Mapping]) throws(PublishError) -> [Mapping] {
        var keys: [TableLayout.MapName: [[UInt8]]] = [:]
        var whole: Set<TableLayout.MapName> = []
        for mapping in mappings {
            for (map, wanted) in Publisher.probes(for: mapping) {
                if let wanted { keys[map, default: []] += wanted } else { whole.insert(map) }
            }
        }
        var found: Set<Mapping> = []
        for map in TableLayout.MapName.allCases {
            if whole.contains(map) {
                found.formUnion(try reader.mappings(in: map).map(\.mapping))
            } else if let wanted = keys[map] {
                found.formUnion(try reader.mappings(owning: wanted, in: map))
            }
        }
        return found.sorted()
    }
}
