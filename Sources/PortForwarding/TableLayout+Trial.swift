import NFTables

extension TableLayout {
    /// The session's objections to creating this whole table, checked without changing
    /// anything (`NFTablesSession.trial`): none means the kernel can hold it. `nftfwd doctor`
    /// asks it under a scratch name, so callers never build the table's batch themselves.
    public func objectionsToCreation(on session: any NFTablesSession) throws(NetlinkError) -> [NetlinkError.Rejection] {
        var batch = Batch(table: table)
        create(in: &batch)
        return try session.trial(batch)
    }
}
