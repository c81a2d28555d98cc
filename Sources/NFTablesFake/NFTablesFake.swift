import NFTables
import SystemErrno

/// An in-memory nf_tables for tests: the same `NFTablesSession` the kernel's side offers,
/// over a ruleset kept in memory. A batch's `operations` are applied to a copy, message by
/// message with the kernel's answers (ENOENT for a missing table, set, chain or element,
/// EEXIST for an element already there, EINVAL for a key of the wrong length); any objection
/// and the copy is dropped, every objection reported as the kernel would (`.rejected`, each
/// naming its message). A batch carrying a generation other than the current one is refused
/// with ERESTART before any of it is looked at. Every committed batch moves the generation on.
///
/// Hooks let a test be the other writer: `interference` (the next commits find that someone
/// committed first), `tamper` (a change outside any batch: a foreign chain, counters, a
/// table deleted), `afterCommit` and `objection` (a kernel that refuses some operation, or
/// lists back something else than was written), `beforeRead` (a writer landing between two
/// dumps of one read). `dump()` prints the ruleset in nft syntax.
///
/// Concurrency model: one thread at a time, like the socket it stands in for.
public final class NFTablesFake: NFTablesSession {
    public private(set) var ruleset = Ruleset()
    public private(set) var currentGeneration: UInt32
    /// Batches committed, and commits tried (including refused ones).
    public private(set) var commits = 0
    public private(set) var commitAttempts = 0
    /// Trials run.
    public private(set) var trials = 0
    /// The next this many commits that carry a generation find it moved on (another writer
    /// committed between the caller's read and its commit): refused with ERESTART.
    public var interference = 0
    /// Runs after every committed batch (a test's other writer, or a kernel that lists back
    /// something else than it was given: `tamper(movingGeneration: false)`).
    public var afterCommit: ((NFTablesFake) -> Void)?
    /// An errno for an operation this kernel refuses (nil: accept), in commits and trials.
    public var objection: ((BatchOperation) -> Errno?)?
    /// Runs before every read of table contents (not `generation()`), named as its error would
    /// name it ("table exists", "list maps"...): a writer that lands in the middle of a reader's
    /// several dumps, as a firewall reload does.
    public var beforeRead: ((NFTablesFake, String) -> Void)?

    public init(generation: UInt32 = 1) {
        currentGeneration = generation
    }

    // MARK: - The ruleset

    public struct Ruleset: Sendable, Equatable {
        public var tables: [Table] = []
        public init() {}

        public func table(_ spec: TableSpec) -> Table? { tables.first { $0.spec == spec } }
        public func index(_ spec: TableSpec) -> Int? { tables.firstIndex { $0.spec == spec } }
    }

    public struct Table: Sendable, Equatable {
        public var spec: TableSpec
        public var chains: [ChainSpec] = []
        public var sets: [StoredSet] = []
        public var rules: [StoredRule] = []
        /// The kernel numbers a table's objects from one counter.
        var nextHandle: UInt64 = 1
        public init(spec: TableSpec) { self.spec = spec }

        public func set(_ name: String) -> StoredSet? { sets.first { $0.spec.name == name } }
        public func setIndex(_ name: String) -> Int? { sets.firstIndex { $0.spec.name == name } }
        /// A handle the kernel would give the next object.
        public mutating func takeHandle() -> UInt64 { defer { nextHandle += 1 }; return nextHandle }
    }

    public struct StoredSet: Sendable, Equatable {
        public var spec: SetSpec
        public var elements: [ElementRecord] = []
        public init(spec: SetSpec, elements: [ElementRecord] = []) { self.spec = spec; self.elements = elements }
    }

    public struct StoredRule: Sendable, Equatable {
        public var handle: UInt64
        public var rule: RuleSpec
        public init(handle: UInt64, rule: RuleSpec) { self.handle = handle; self.rule = rule }
    }

    /// Changes the ruleset outside any batch, as `nft` or another program would. With
    /// `movingGeneration` (the kernel's way) the generation moves; without it the change is
    /// one the reader cannot see coming (a kernel listing back something else than it took).
    public func tamper(movingGeneration: Bool = true, _ change: (inout Ruleset) -> Void) {
        change(&ruleset)
        if movingGeneration { currentGeneration &+= 1 }
    }

    // MARK: - NFTablesSession: reads

    public func generation() throws(NetlinkError) -> UInt32 { currentGeneration }

    public func tableExists(_ table: TableSpec) throws(NetlinkError) -> Bool {
        beforeRead?(self, "table exists")
        return ruleset.table(table) != nil
    }

    public func chains(of table: TableSpec) throws(NetlinkError) -> [ChainRecord] {
        try existing(table, "list chains").chains.map { NFTablesFake.record($0, in: table) }
    }

    public func allChains() throws(NetlinkError) -> [ChainRecord] {
        ruleset.tables.flatMap { t in t.chains.map { NFTablesFake.record($0, in: t.spec) } }
    }

    public func sets(of table: TableSpec) throws(NetlinkError) -> [SetRecord] {
        try existing(table, "list maps").sets.map { stored in
            let s = stored.spec
            return SetRecord(name: s.name, flags: s.kernelFlags, keyType: DataType.concat(s.key), keyLength: UInt32(s.keyLength),
                             dataType: s.isMap ? DataType.concat(s.value) : 0, dataLength: UInt32(s.valueLength),
                             expressions: s.counters ? ["counter"] : [])
        }
    }

    public func rules(of table: TableSpec, chain: String?) throws(NetlinkError) -> [RuleRecord] {
        let t = try existing(table, "list rules")
        // The kernel lists chain by chain, each in its order.
        return t.chains.filter { chain == nil || $0.name == chain }.flatMap { c in
            t.rules.filter { $0.rule.chain == c.name }.map {
                RuleRecord(chain: c.name, handle: $0.handle, values: $0.rule.expressions.map(\.record))
            }
        }
    }

    public func elements(of table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord] {
        guard let set = try existing(table, "list elements of \(map)").set(map) else {
            throw .request(what: "list elements of \(map)", errno: .noEntry)
        }
        return set.elements
    }

    public func lookup(_ keys: [[UInt8]], in table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord?] {
        guard let set = try existing(table, "get element of \(map)").set(map) else {
            throw .request(what: "get element of \(map)", errno: .noEntry)
        }
        return keys.map { key in set.elements.first { $0.key == key && !$0.intervalEnd } }
    }

    private func existing(_ table: TableSpec, _ what: String) throws(NetlinkError) -> Table {
        beforeRead?(self, what)
        guard let t = ruleset.table(table) else { throw .request(what: what, errno: .noEntry) }
        return t
    }

    static func record(_ chain: ChainSpec, in table: TableSpec) -> ChainRecord {
        ChainRecord(name: chain.name, type: chain.base?.type, hook: chain.base?.hook.kernelValue, priority: chain.base?.priority,
                    policy: chain.base?.kernelPolicy, table: table.name, familyValue: table.family.kernelValue)
    }

    // MARK: - NFTablesSession: commit and trial

    @discardableResult
    public func commit(_ batch: Batch, expectingGeneration generation: UInt32?) throws(NetlinkError) -> UInt32 {
        commitAttempts += 1
        if generation != nil && interference > 0 {
            interference -= 1
            currentGeneration &+= 1
        }
        if let generation, generation != currentGeneration {
            throw .rejected([.init(operation: "begin batch", errno: .restart)])
        }
        let result = apply(batch)
        guard result.rejections.isEmpty else { throw .rejected(result.rejections) }
        guard !batch.isEmpty else { return currentGeneration }
        ruleset = result.ruleset
        currentGeneration &+= 1
        commits += 1
        afterCommit?(self)
        return currentGeneration
    }

    public func trial(_ batch: Batch) throws(NetlinkError) -> [NetlinkError.Rejection] {
        trials += 1
        return apply(batch).rejections
    }

    /// Every operation against a copy; the copy and every objection.
    func apply(_ batch: Batch) -> (ruleset: Ruleset, rejections: [NetlinkError.Rejection]) {
        var work = ruleset
        var rejections: [NetlinkError.Rejection] = []
        for (index, operation) in batch.operations.enumerated() {
            let refusal = objection?(operation) ?? NFTablesFake.apply(operation, table: batch.table, to: &work)
            if let refusal {
                let seq = batch.firstSeq &+ UInt32(index)
                rejections.append(.init(operation: batch.operation(seq) ?? "message \(seq)", errno: refusal))
            }
        }
        return (work, rejections)
    }

    /// One message, as nf_tables answers it: nil when accepted.
    static func apply(_ operation: BatchOperation, table spec: TableSpec, to ruleset: inout Ruleset) -> Errno? {
        if case .addTable(let exclusive) = operation {
            if ruleset.index(spec) != nil { return exclusive ? .exists : nil }
            ruleset.tables.append(Table(spec: spec))
            return nil
        }
        guard let t = ruleset.index(spec) else { return .noEntry }
        if case .deleteTable = operation {
            ruleset.tables.remove(at: t)
            return nil
        }
        var table = ruleset.tables[t]
        defer { ruleset.tables[t] = table }
        switch operation {
        case .addTable, .deleteTable:
            return nil
        case .addChain(let chain):
            if let existing = table.chains.first(where: { $0.name == chain.name }) {
                // CREATE without EXCL updates a chain; its hook cannot change.
                return existing.base?.hook == chain.base?.hook && existing.base?.type == chain.base?.type ? nil : .exists
            }
            table.chains.append(chain)
            table.nextHandle += 1
            return nil
        case .addSet(let set):
            if let existing = table.set(set.name) { return existing.spec == set ? nil : .exists }
            table.sets.append(StoredSet(spec: set))
            table.nextHandle += 1
            return nil
        case .addElement(let element, let name):
            guard let s = table.setIndex(name) else { return .noEntry }
            let spec = table.sets[s].spec
            guard element.key.count == spec.keyLength,
                  element.keyEnd.map({ $0.count == spec.keyLength }) ?? true,
                  spec.isMap ? (element.intervalEnd || element.value.count == spec.valueLength) : element.value.isEmpty else {
                return .invalidArgument
            }
            if table.sets[s].elements.contains(where: { NFTablesFake.same($0, element) }) { return .exists }
            table.sets[s].elements.append(ElementRecord(key: element.key, value: element.value, comment: element.comment,
                                                        keyEnd: element.keyEnd ?? [], intervalEnd: element.intervalEnd))
            return nil
        case .deleteElement(let element, let name):
            guard let s = table.setIndex(name) else { return .noEntry }
            guard let e = table.sets[s].elements.firstIndex(where: { NFTablesFake.same($0, element) }) else { return .noEntry }
            table.sets[s].elements.remove(at: e)
            return nil
        case .addRule(let rule):
            guard table.chains.contains(where: { $0.name == rule.chain }) else { return .noEntry }
            for expression in rule.expressions {
                switch expression {
                case .lookup(let set, _, _), .member(let set, _), .notMember(let set, _):
                    if table.set(set) == nil { return .noEntry }
                case .verdict(.jump(let chain)):
                    if !table.chains.contains(where: { $0.name == chain }) { return .noEntry }
                default: break
                }
            }
            table.rules.append(StoredRule(handle: table.nextHandle, rule: rule))
            table.nextHandle += 1
            return nil
        case .deleteRule(let chain, let handle):
            guard let r = table.rules.firstIndex(where: { $0.handle == handle && $0.rule.chain == chain }) else { return .noEntry }
            table.rules.remove(at: r)
            return nil
        }
    }

    /// The kernel's identity of an element: its key, and for ranges the key end or the flag
    /// that makes it a range's closing element.
    static func same(_ stored: ElementRecord, _ element: Element) -> Bool {
        stored.key == element.key && stored.keyEnd == (element.keyEnd ?? []) && stored.intervalEnd == element.intervalEnd
    }
}
