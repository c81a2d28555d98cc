/// The table's structure as a command finds it, from the layout record (`LayoutRecords`) when
/// that proves it, from the kernel otherwise.
extension Publisher {
    /// The table's structure at `generation` (what a batch must add to bring it to today's
    /// layout), or nil when there is no table. Without a dump when the layout record says our
    /// own commit left today's layout at exactly this generation.
    func structure(at generation: UInt32) throws(PublishError) -> TableUpgrade? {
        if layoutProven(at: generation) { return TableUpgrade() }
        guard try nft.tableExists(layout.table) else { return nil }
        return try reader.verifyStructure()
    }

    func layoutProven(at generation: UInt32) -> Bool {
        guard let records = layoutRecords, let text = records.load() else { return false }
        guard let record = LayoutRecord(parsing: text), record.kernel == records.kernel,
              record.table == layout.table.name else {
            trace?("the layout record is malformed or about another kernel, executable or table: checking the table")
            return false
        }
        guard record.generation == generation else {
            trace?("the ruleset changed since our last commit (generation \(record.generation), now \(generation)): checking the table")
            return false
        }
        trace?("the table is in today's layout as our last commit left it (ruleset generation \(generation), unchanged): not checked again")
        return true
    }

    /// Records that the batch committed at `fence` left the table in today's layout, if the
    /// kernel's answer proves no other commit came in between.
    func rememberLayout(fence: UInt32, committed: UInt32) {
        guard let records = layoutRecords else { return }
        guard committed == LayoutRecord.successor(of: fence) else {
            trace?("another commit came with ours (generation \(committed), ours \(LayoutRecord.successor(of: fence))): no layout record")
            return
        }
        records.store(LayoutRecord(kernel: records.kernel, table: layout.table.name, generation: committed).text)
    }
}
