/// `apply`'s fast path for a file the table already holds (see `ApplyRecords`): decided from
/// the ruleset generation and the record, without reading the table.
extension Publisher {
    /// The digests of a document's desired state, computed once per apply.
    struct DesiredDigests {
        let mappings: String
        /// nil: the document leaves the masquerade rules as they are.
        let masquerade: String?

        init(_ document: StateDocument) {
            mappings = ApplyRecord.digest(of: document.mappings)
            masquerade = document.masquerade.map { ApplyRecord.digest(of: Set($0)) }
        }
    }

    /// The summary of an apply that provably changes nothing, or nil when that is not proven
    /// (then the apply reads the table as always). One GETGEN round trip, no dump.
    func unchangedByRecord(_ document: StateDocument, _ digests: DesiredDigests) -> ApplySummary? {
        guard let records = applyRecords else { return nil }
        guard let text = records.load() else { trace?("no record of an earlier apply: reading the table"); return nil }
        guard let record = ApplyRecord(parsing: text) else {
            trace?("the record of an earlier apply is malformed: reading the table")
            return nil
        }
        guard record.kernel == records.kernel, record.table == layout.table.name else {
            trace?("the record of an earlier apply is about another kernel or table: reading the table")
            return nil
        }
        let now: UInt32
        do { now = try nft.generation() } catch { return nil }   // the full read reports it
        guard now == record.generation else {
            trace?("the ruleset changed since the last apply (generation \(record.generation), now \(now)): reading the table")
            return nil
        }
        guard record.mappings == digests.mappings, digests.masquerade.map({ $0 == record.masquerade }) ?? true else {
            trace?("the file differs from what the last apply left at generation \(now): reading the table")
            return nil
        }
        trace?("the table holds exactly this file since the last apply (ruleset generation \(now), unchanged): nothing to send")
        // checkNoConflicts refused twins: every mapping of the file is one of the table's.
        return ApplySummary(added: 0, removed: 0, unchanged: document.mappings.count)
    }

    /// Records what the table holds after an apply: at `readAt` when it sent nothing, or at the
    /// generation one past it when its batch committed and the kernel's fence said exactly that
    /// (any other answer means someone else committed too: nothing is recorded, and the next
    /// apply reads the table).
    func remember(_ digests: DesiredDigests, masquerade: [MasqueradeRule], readAt: UInt32, committed: Bool) {
        guard let records = applyRecords else { return }
        var generation = readAt
        if committed {
            let next = LayoutRecord.successor(of: readAt)
            guard lastCommittedGeneration == next else {
                trace?("another commit came with ours (generation \(lastCommittedGeneration.map(String.init) ?? "?"), ours \(next)): no record")
                return
            }
            generation = next
        }
        let record = ApplyRecord(kernel: records.kernel, table: layout.table.name, generation: generation,
                                 mappings: digests.mappings,
                                 masquerade: digests.masquerade ?? ApplyRecord.digest(of: Set(masquerade)))
        records.store(record.text)
    }
}
