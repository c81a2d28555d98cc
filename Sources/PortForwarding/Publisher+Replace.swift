import NFTables

extension Publisher {
    public enum RestoreOutcome: Sendable, Equatable {
        /// The table was readable: `apply`'s changes.
        case applied(ApplySummary)
        /// The table had been changed outside nftfwd (`problem` says how): it was deleted and
        /// created again with exactly the desired state, in the same batch.
        case replaced(problem: String, mappings: Int)
    }

    /// `apply`, and, when the table was changed outside nftfwd so that it cannot be read back
    /// (a foreign element, rule or chain), replaces it whole: delete and create in one batch,
    /// carrying the generation the foreign table was seen at. (Masquerade rules then come only
    /// from the document: a bare array of mappings has none to give back.) This is for
    /// `nftfwd relay --restore-from`, where the saved file is the desired state; the CLI never
    /// replaces a table it cannot read (it reports it, exit 2).
    public func restore(_ document: StateDocument) throws(PublishError) -> RestoreOutcome {
        try PublishError.checking { () throws(MappingError) in try Publisher.checkNoConflicts(document.mappings) }
        if let rules = document.masquerade { try PublishError.checking { () throws(MappingError) in try MasqueradeRule.checkNoOverlaps(rules) } }
        for _ in 0..<Publisher.maxAttempts {
            do {
                return .applied(try apply(document))
            } catch .foreignTable(let foreign) {
                // Read again at a known generation: the table may have been repaired meanwhile.
                let replaced = try retryingOnRestart { () throws(PublishError) -> Bool in
                    let generation = try nft.generation()
                    do throws(PublishError) {
                        _ = try reader.snapshot()
                        return false
                    } catch .foreignTable {}
                    var batch = Batch(table: layout.table)
                    batch.deleteTable()
                    let rules = document.masquerade ?? []
                    if !document.mappings.isEmpty || !rules.isEmpty {
                        layout.create(in: &batch)
                        for mapping in document.mappings { addElements(of: mapping, to: &batch) }
                        for rule in rules { addElements(of: rule, to: &batch) }
                    }
                    try commit(batch, generation)
                    return true
                }
                if replaced { return .replaced(problem: foreign.problem, mappings: document.mappings.count) }
            }
        }
        // The table kept flipping between readable and not: let apply report what it sees.
        return .applied(try apply(document))
    }
}
