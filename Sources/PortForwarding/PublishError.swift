import NFTables

/// Everything `Publisher` and `TableReader` can fail with: one typed error (their operations
/// are `throws(PublishError)`), so a caller, `Console` above all, handles each case by name and
/// cannot meet one nobody declared. The description is the wrapped error's, word for word.
public enum PublishError: Error, Sendable, CustomStringConvertible {
    /// A mistake in the request (a conflict, nothing to remove, a bad table name): nothing changed.
    case mapping(MappingError)
    /// The table holds something nftfwd did not write.
    case foreignTable(ForeignTableError)
    /// The ruleset changed during every read of the table.
    case tableMoving(TableMovingError)
    /// The kernel refused a request or a batch, or the socket failed (object and errno named).
    case netlink(NetlinkError)

    public var description: String {
        switch self {
        case .mapping(let e): return e.description
        case .foreignTable(let e): return e.description
        case .tableMoving(let e): return e.description
        case .netlink(let e): return e.description
        }
    }

    /// The request's mistake, when it is one.
    public var mappingError: MappingError? { if case .mapping(let e) = self { return e }; return nil }
    public var foreignTableError: ForeignTableError? { if case .foreignTable(let e) = self { return e }; return nil }
    public var netlinkError: NetlinkError? { if case .netlink(let e) = self { return e }; return nil }

    static func foreign(table: String, problem: String) -> PublishError {
        .foreignTable(ForeignTableError(table: table, problem: problem))
    }

    /// Runs a check of the request (whose errors are `MappingError`s) where a `PublishError` goes.
    static func checking<T>(_ body: () throws(MappingError) -> T) throws(PublishError) -> T {
        do { return try body() } catch { throw .mapping(error) }
    }
}

/// The session as Publisher and TableReader call it: the same requests, their `NetlinkError`s
/// as `PublishError.netlink`, so the callers' code needs no conversion at every call.
struct Kernel {
    let session: any NFTablesSession
    init(_ session: any NFTablesSession) { self.session = session }

    private func run<T>(_ body: () throws(NetlinkError) -> T) throws(PublishError) -> T {
        do { return try body() } catch { throw .netlink(error) }
    }

    func generation() throws(PublishError) -> UInt32 { try run { () throws(NetlinkError) in try session.generation() } }
    func tableExists(_ table: TableSpec) throws(PublishError) -> Bool {
        try run { () throws(NetlinkError) in try session.tableExists(table) }
    }
    func chains(of table: TableSpec) throws(PublishError) -> [ChainRecord] {
        try run { () throws(NetlinkError) in try session.chains(of: table) }
    }
    func sets(of table: TableSpec) throws(PublishError) -> [SetRecord] {
        try run { () throws(NetlinkError) in try session.sets(of: table) }
    }
    func rules(of table: TableSpec) throws(PublishError) -> [RuleRecord] {
        try run { () throws(NetlinkError) in try session.rules(of: table, chain: nil) }
    }
    func rules(of table: TableSpec, unlessFingerprint known: [UInt8]?) throws(PublishError) -> (fingerprint: [UInt8], rules: [RuleRecord]?) {
        try run { () throws(NetlinkError) in try session.rules(of: table, unlessFingerprint: known) }
    }
    func elements(of table: TableSpec, map: String) throws(PublishError) -> [ElementRecord] {
        try run { () throws(NetlinkError) in try session.elements(of: table, map: map) }
    }
    func elements(of table: TableSpec, map: String, stoppingWhen enough: ([ElementRecord]) -> Bool) throws(PublishError) -> [ElementRecord]? {
        try run { () throws(NetlinkError) in try session.elements(of: table, map: map, stoppingWhen: enough) }
    }
    func lookup(_ keys: [[UInt8]], in table: TableSpec, map: String) throws(PublishError) -> [ElementRecord?] {
        try run { () throws(NetlinkError) in try session.lookup(keys, in: table, map: map) }
    }
    func commit(_ batch: Batch, expectingGeneration generation: UInt32?) throws(PublishError) -> UInt32 {
        try run { () throws(NetlinkError) in try session.commit(batch, expectingGeneration: generation) }
    }
}
