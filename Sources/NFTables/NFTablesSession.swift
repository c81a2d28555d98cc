/// What the layers above need from nf_tables, and nothing more: the ruleset generation, the
/// reads of one table (and every table's chains, for the host checks), point lookups of
/// element keys, commit and trial of a batch.
///
/// `NFTables` is the kernel's side over netlink; `NFTablesFake` (a target of its own) keeps a
/// ruleset in memory and applies a batch's `operations` all or nothing, with generation ids,
/// so every decision above this layer can be tested without root. The kernel tests keep
/// checking the wire and real traffic.
///
/// Concurrency model: an implementation is owned by one thread at a time, like a socket.
public protocol NFTablesSession: AnyObject {
    /// The ruleset generation id: it changes with every committed batch, by anyone.
    func generation() throws(NetlinkError) -> UInt32
    func tableExists(_ table: TableSpec) throws(NetlinkError) -> Bool
    func chains(of table: TableSpec) throws(NetlinkError) -> [ChainRecord]
    /// Every chain of every table and family.
    func allChains() throws(NetlinkError) -> [ChainRecord]
    func sets(of table: TableSpec) throws(NetlinkError) -> [SetRecord]
    /// The rules of a table, or of one chain of it (nil: every chain).
    func rules(of table: TableSpec, chain: String?) throws(NetlinkError) -> [RuleRecord]
    /// Every rule of a table and their fingerprint (`RuleFingerprint`), from one read; the
    /// rules are nil when the fingerprint equals `known` (they were not parsed). A session
    /// that cannot fingerprint gives an empty one and always the rules.
    func rules(of table: TableSpec, unlessFingerprint known: [UInt8]?) throws(NetlinkError) -> (fingerprint: [UInt8], rules: [RuleRecord]?)
    /// Every element of a set or map.
    func elements(of table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord]
    /// Every element of a set or map, or nil when `enough` (asked as the elements arrive)
    /// says the map is too large to finish dumping (see `NFTables.elements(of:map:stoppingWhen:)`:
    /// a large map is cheaper to read otherwise).
    func elements(of table: TableSpec, map: String, stoppingWhen enough: ([ElementRecord]) -> Bool) throws(NetlinkError) -> [ElementRecord]?
    /// The element for each key, or nil where the map has no such key.
    func lookup(_ keys: [[UInt8]], in table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord?]
    /// Applies the whole batch or none of it; with a generation, refuses it (ERESTART in
    /// `.rejected`) when the ruleset moved since. Returns the new generation.
    @discardableResult
    func commit(_ batch: Batch, expectingGeneration generation: UInt32?) throws(NetlinkError) -> UInt32
    /// Checks every message of the batch without applying any: the objections to its own
    /// messages, none when it would have been accepted.
    func trial(_ batch: Batch) throws(NetlinkError) -> [NetlinkError.Rejection]
}

extension NFTablesSession {
    /// All at once, asked once: a stand-in has no cost to save.
    public func elements(of table: TableSpec, map: String, stoppingWhen enough: ([ElementRecord]) -> Bool) throws(NetlinkError) -> [ElementRecord]? {
        let all = try elements(of: table, map: map)
        return enough(all) ? nil : all
    }
    public func rules(of table: TableSpec) throws(NetlinkError) -> [RuleRecord] {
        try rules(of: table, chain: nil)
    }

    public func rules(of table: TableSpec, unlessFingerprint known: [UInt8]?) throws(NetlinkError) -> (fingerprint: [UInt8], rules: [RuleRecord]?) {
        ([], try rules(of: table, chain: nil))
    }
}

extension NFTables: NFTablesSession {}
