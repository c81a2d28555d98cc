import CNetfilter

/// A transaction: netlink messages between BATCH_BEGIN and BATCH_END that the kernel applies
/// all together or not at all. A batch is its typed operations (`BatchOperation`) and nothing
/// else: the same values the in-memory fake applies are encoded to netlink bytes only when
/// the batch is sent (`framed`, one encoder: `BatchEncoder`), so there is one content, never
/// bytes and values that could disagree. `NFTables.commit` sends it in one `sendto`.
///
/// Every message remembers a description of what it does (`add element 8080/tcp ...`), so a
/// rejection can name the object it concerns by the message's sequence number.
public struct Batch: Sendable {
    public let table: TableSpec
    /// What each message does, as a value, in order: the batch's whole content.
    public private(set) var operations: [BatchOperation] = []
    /// What each message does in words, in order; computed only when a rejection needs the
    /// text (a 10,000-element batch would otherwise format 10,000 strings for nothing).
    private var descriptions: [@Sendable () -> String] = []
    /// The first message's sequence number; the begin/end markers take the numbers around them.
    public let firstSeq: UInt32

    public init(table: TableSpec, firstSeq: UInt32 = 1) {
        self.table = table
        self.firstSeq = firstSeq
    }

    public var count: Int { operations.count }
    public var isEmpty: Bool { operations.isEmpty }
    public var lastSeq: UInt32 { firstSeq &+ UInt32(truncatingIfNeeded: operations.count) &- 1 }

    /// What the message with sequence number `seq` does, if it is one of this batch's.
    public func operation(_ seq: UInt32) -> String? {
        guard seq &- firstSeq < UInt32(truncatingIfNeeded: descriptions.count) else { return nil }
        return descriptions[Int(seq &- firstSeq)]()
    }

    private mutating func append(_ operation: BatchOperation, _ what: @escaping @Sendable () -> String) {
        operations.append(operation)
        descriptions.append(what)
    }

    // MARK: - Tables and chains

    /// `add table` (NLM_F_CREATE without EXCL: succeeds if it exists).
    public mutating func addTable() {
        let what = "add table \(table.family) \(table.name)"
        append(.addTable(exclusive: false)) { what }
    }

    /// `delete table`: the table and everything in it.
    public mutating func deleteTable() {
        let what = "delete table \(table.family) \(table.name)"
        append(.deleteTable) { what }
    }

    /// What `NFTables.trial` appends: the batch's table created twice with NLM_F_EXCL. The
    /// second creation fails whatever the first did (it finds the table the first created, or
    /// the first already failed), so the kernel refuses the batch and applies none of it.
    mutating func addTrialEnd() {
        for _ in 0..<2 { append(.addTable(exclusive: true)) { Batch.trialEnd } }
    }

    static let trialEnd = "end of trial (refused on purpose)"

    public mutating func addChain(_ chain: ChainSpec) {
        let what = "add chain \(chain.name)"
        append(.addChain(chain)) { what }
    }

    // MARK: - Maps and elements

    public mutating func addMap(_ map: SetSpec) { addSet(map) }

    /// `add set` / `add map` (NLM_F_CREATE without EXCL).
    public mutating func addSet(_ map: SetSpec) {
        let what = "add \(map.isMap ? "map" : "set") \(map.name)"
        append(.addSet(map)) { what }
    }

    /// `add element` with NLM_F_EXCL: the kernel refuses (EEXIST) a key that is already there.
    /// One message per element, so a rejection names exactly the element it concerns.
    public mutating func addElement(_ element: Element, to map: String, describedAs what: @escaping @autoclosure @Sendable () -> String) {
        append(.addElement(element, set: map)) { "add element " + what() }
    }

    /// `delete element`: the kernel refuses (ENOENT) a key that is not there.
    public mutating func deleteElement(_ element: Element, from map: String, describedAs what: @escaping @autoclosure @Sendable () -> String) {
        let key = Element(key: element.key, keyEnd: element.keyEnd, intervalEnd: element.intervalEnd)
        append(.deleteElement(key, set: map)) { "delete element " + what() }
    }

    // MARK: - Rules

    /// `add rule` appended at the end of its chain (NLM_F_APPEND; without it rules go to the head).
    public mutating func addRule(_ rule: RuleSpec, describedAs what: String) {
        let text = "add rule \(rule.chain): \(what)"
        append(.addRule(rule)) { text }
    }

    /// `delete rule CHAIN handle N`: the kernel refuses (ENOENT) a handle that is not there.
    public mutating func deleteRule(chain: String, handle: UInt64, describedAs what: String) {
        let text = "delete rule \(chain) handle \(handle): \(what)"
        append(.deleteRule(chain: chain, handle: handle)) { text }
    }

    // MARK: - Bytes

    /// The messages' bytes, without BATCH_BEGIN/END: the operations encoded now (a test's or a
    /// trace's look; `framed` is what is sent).
    public var bytes: [UInt8] {
        var encoder = BatchEncoder(table: table, seq: firstSeq)
        var out: [UInt8] = []
        for operation in operations { encoder.encode(operation, into: &out) }
        return out
    }

    /// The whole datagram: BATCH_BEGIN (carrying `generation` if given, so the kernel refuses the
    /// batch with ERESTART if the ruleset changed since it was read), the messages, BATCH_END.
    public func framed(generation: UInt32?) -> [UInt8] {
        var out: [UInt8] = []
        // Reserved once, at a bound of what the messages take: grown by doubling, the array of
        // a 100,000-element batch held its old and its new copy at once while it grew, the
        // largest part of apply's peak memory.
        out.reserveCapacity(BatchEncoder.sizeBound(of: operations, table: table))
        Batch.withScratch { buffer in
            let begin: UnsafeMutablePointer<nlmsghdr>
            if let generation {
                begin = nftfwd_batch_begin_genid(buffer, firstSeq &- 1, generation)
            } else {
                begin = nftnl_batch_begin(buffer, firstSeq &- 1)!
            }
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(begin.pointee.nlmsg_len))))
        }
        var encoder = BatchEncoder(table: table, seq: firstSeq)
        for operation in operations { encoder.encode(operation, into: &out) }
        Batch.withScratch { buffer in
            let end = nftnl_batch_end(buffer, lastSeq &+ 1)!
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(end.pointee.nlmsg_len))))
        }
        return out
    }

    static let scratchSize = 1 << 16
    /// Bytes of the scratch buffer zeroed before a message is built (a longer message is built
    /// again in a buffer zeroed whole): libmnl does not clear an
    /// attribute's padding (a name or comment whose length is no multiple of 4), so without
    /// this the wire would carry whatever the heap held there, and two builds of one batch
    /// would differ. Every message nftfwd builds is far shorter (the longest rule: 900 bytes).
    static let scratchCleared = 1024

    /// A message is built in stable memory (libnftnl writes through the pointer) and then
    /// copied out; elements and rules are far below this size.
    static func withScratch<T>(cleared: Int = scratchCleared, _ body: (UnsafeMutablePointer<CChar>) -> T) -> T {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: scratchSize)
        buffer.initialize(repeating: 0, count: min(cleared, scratchSize))
        defer { buffer.deallocate() }
        return body(buffer)
    }
}
