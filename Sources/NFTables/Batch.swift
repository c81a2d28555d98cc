import CNetfilter

/// A transaction: netlink messages between BATCH_BEGIN and BATCH_END that the kernel applies
/// all together or not at all. Built in memory (so it can be inspected byte by byte in tests)
/// and sent in one `sendto` by `NFTables.commit`.
///
/// Every message remembers a description of what it does (`add element 8080/tcp ...`), so a
/// rejection can name the object it concerns.
public struct Batch: Sendable {
    public let table: TableSpec
    /// The messages' bytes, without BATCH_BEGIN/END (added at commit, with the generation id).
    public private(set) var bytes: [UInt8] = []
    /// What each message does, in order; computed only when a rejection needs the text
    /// (a 10,000-element batch would otherwise format 10,000 strings for nothing).
    private var descriptions: [@Sendable () -> String] = []
    /// What each message does, as a value, in order (see `BatchOperation`).
    public private(set) var operations: [BatchOperation] = []
    private var nextSeq: UInt32
    private var nextSetID: UInt32 = 1
    private var setIDs: [String: UInt32] = [:]

    /// `firstSeq` numbers the messages; the begin/end markers take the numbers around them.
    public init(table: TableSpec, firstSeq: UInt32 = 1) {
        self.table = table
        self.nextSeq = firstSeq
    }

    public var count: Int { descriptions.count }
    public var isEmpty: Bool { descriptions.isEmpty }
    public var lastSeq: UInt32 { nextSeq &- 1 }
    public var firstSeq: UInt32 { nextSeq &- UInt32(descriptions.count) }

    /// What the message with sequence number `seq` does, if it is one of this batch's.
    public func operation(_ seq: UInt32) -> String? {
        let index = Int(seq &- firstSeq)
        guard seq &- firstSeq < UInt32(descriptions.count) else { return nil }
        return descriptions[index]()
    }

    // MARK: - Tables and chains

    /// `add table` (NLM_F_CREATE without EXCL: succeeds if it exists).
    public mutating func addTable() {
        let t = makeTable()
        defer { nftnl_table_free(t) }
        operations.append(.addTable(exclusive: false))
        append(UInt16(NFT_MSG_NEWTABLE.rawValue), flags: NLM_F_CREATE, "add table \(table.family) \(table.name)") {
            nftnl_table_nlmsg_build_payload($0, t)
        }
    }

    /// `delete table`: the table and everything in it.
    public mutating func deleteTable() {
        let t = makeTable()
        defer { nftnl_table_free(t) }
        operations.append(.deleteTable)
        append(UInt16(NFT_MSG_DELTABLE.rawValue), flags: 0, "delete table \(table.family) \(table.name)") {
            nftnl_table_nlmsg_build_payload($0, t)
        }
    }

    /// What `NFTables.trial` appends: the batch's table created twice with NLM_F_EXCL. The
    /// second creation fails whatever the first did (it finds the table the first created, or
    /// the first already failed), so the kernel refuses the batch and applies none of it.
    mutating func addTrialEnd() {
        let t = makeTable()
        defer { nftnl_table_free(t) }
        for _ in 0..<2 {
            operations.append(.addTable(exclusive: true))
            append(UInt16(NFT_MSG_NEWTABLE.rawValue), flags: NLM_F_CREATE | NLM_F_EXCL, Batch.trialEnd) {
                nftnl_table_nlmsg_build_payload($0, t)
            }
        }
    }

    static let trialEnd = "end of trial (refused on purpose)"

    public mutating func addChain(_ chain: ChainSpec) {
        let c = nftnl_chain_alloc()!
        defer { nftnl_chain_free(c) }
        nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_TABLE.rawValue), table.name)
        nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_NAME.rawValue), chain.name)
        if let base = chain.base {
            nftnl_chain_set_str(c, UInt16(NFTNL_CHAIN_TYPE.rawValue), base.type)
            nftnl_chain_set_u32(c, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue), base.hook.kernelValue)
            nftnl_chain_set_s32(c, UInt16(NFTNL_CHAIN_PRIO.rawValue), base.priority)
            nftnl_chain_set_u32(c, UInt16(NFTNL_CHAIN_POLICY.rawValue), base.kernelPolicy)
        }
        operations.append(.addChain(chain))
        append(UInt16(NFT_MSG_NEWCHAIN.rawValue), flags: NLM_F_CREATE, "add chain \(chain.name)") {
            nftnl_chain_nlmsg_build_payload($0, c)
        }
    }

    // MARK: - Maps and elements

    public mutating func addMap(_ map: SetSpec) { addSet(map) }

    /// `add set` / `add map` (NLM_F_CREATE without EXCL).
    public mutating func addSet(_ map: SetSpec) {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        let id = nextSetID
        nextSetID += 1
        setIDs[map.name] = id
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map.name)
        nftnl_set_set_u32(s, UInt16(NFTNL_SET_FAMILY.rawValue), table.family.kernelValue)
        nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), id)
        nftnl_set_set_u32(s, UInt16(NFTNL_SET_FLAGS.rawValue), map.kernelFlags)
        nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_TYPE.rawValue), DataType.concat(map.key))
        nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_LEN.rawValue), UInt32(map.keyLength))
        if map.isMap {
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_DATA_TYPE.rawValue), DataType.concat(map.value))
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_DATA_LEN.rawValue), UInt32(map.valueLength))
        }
        if map.kernelFlags & UInt32(NFT_SET_CONCAT.rawValue) != 0 {
            // The kernel picks its range-matching set type (pipapo) from the field lengths.
            let lengths = map.key.map { UInt8($0.concatLength) }
            lengths.withUnsafeBytes { _ = nftnl_set_set_data(s, UInt16(NFTNL_SET_DESC_CONCAT.rawValue), $0.baseAddress, UInt32($0.count)) }
        }
        if map.counters {
            // The set owns the expression once added.
            nftnl_set_add_expr(s, nftnl_expr_alloc("counter"))
        }
        operations.append(.addSet(map))
        append(UInt16(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE, "add \(map.isMap ? "map" : "set") \(map.name)") {
            nftnl_set_nlmsg_build_payload($0, s)
        }
    }

    /// `add element` with NLM_F_EXCL: the kernel refuses (EEXIST) a key that is already there.
    /// One message per element, so a rejection names exactly the element it concerns.
    public mutating func addElement(_ element: Element, to map: String, describedAs what: @escaping @autoclosure @Sendable () -> String) {
        operations.append(.addElement(element, set: map))
        elementMessage(UInt16(NFT_MSG_NEWSETELEM.rawValue), flags: NLM_F_CREATE | NLM_F_EXCL, element, map) { "add element " + what() }
    }

    /// `delete element`: the kernel refuses (ENOENT) a key that is not there.
    public mutating func deleteElement(_ element: Element, from map: String, describedAs what: @escaping @autoclosure @Sendable () -> String) {
        let key = Element(key: element.key, keyEnd: element.keyEnd, intervalEnd: element.intervalEnd)
        operations.append(.deleteElement(key, set: map))
        elementMessage(UInt16(NFT_MSG_DELSETELEM.rawValue), flags: 0, key, map) { "delete element " + what() }
    }

    private mutating func elementMessage(_ type: UInt16, flags: Int32, _ element: Element, _ map: String, _ what: @escaping @Sendable () -> String) {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map)
        if let id = setIDs[map] { nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), id) }
        nftnl_set_elem_add(s, Batch.makeElement(element))
        append(type, flags: flags, what, { nftnl_set_elems_nlmsg_build_payload($0, s) })
    }

    static func makeElement(_ element: Element) -> OpaquePointer {
        let e = nftnl_set_elem_alloc()!
        element.key.withUnsafeBytes { _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
        if let end = element.keyEnd {
            end.withUnsafeBytes { _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_KEY_END), $0.baseAddress, UInt32($0.count)) }
        }
        if element.intervalEnd {
            nftnl_set_elem_set_u32(e, UInt16(NFTNL_SET_ELEM_FLAGS), UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue))
        }
        if !element.value.isEmpty {
            element.value.withUnsafeBytes { _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
        }
        if let udata = element.userdata {
            udata.withUnsafeBytes { _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_USERDATA), $0.baseAddress, UInt32($0.count)) }
        }
        return e
    }

    // MARK: - Rules

    /// `add rule` appended at the end of its chain (NLM_F_APPEND; without it rules go to the head).
    public mutating func addRule(_ rule: RuleSpec, describedAs what: String) {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table.name)
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), rule.chain)
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), table.family.kernelValue)
        for expression in rule.expressions {
            var setID: UInt32?
            if case .lookup(let map, _, _) = expression { setID = setIDs[map] }
            if case .member(let set, _) = expression { setID = setIDs[set] }
            if case .notMember(let set, _) = expression { setID = setIDs[set] }
            nftnl_rule_add_expr(r, expression.make(setID: setID))
        }
        operations.append(.addRule(rule))
        append(UInt16(NFT_MSG_NEWRULE.rawValue), flags: NLM_F_CREATE | NLM_F_APPEND, "add rule \(rule.chain): \(what)") {
            nftnl_rule_nlmsg_build_payload($0, r)
        }
    }

    /// `delete rule CHAIN handle N`: the kernel refuses (ENOENT) a handle that is not there.
    public mutating func deleteRule(chain: String, handle: UInt64, describedAs what: String) {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table.name)
        nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
        nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), table.family.kernelValue)
        nftnl_rule_set_u64(r, UInt16(NFTNL_RULE_HANDLE.rawValue), handle)
        operations.append(.deleteRule(chain: chain, handle: handle))
        append(UInt16(NFT_MSG_DELRULE.rawValue), flags: 0, "delete rule \(chain) handle \(handle): \(what)") {
            nftnl_rule_nlmsg_build_payload($0, r)
        }
    }

    // MARK: - Framing

    private func makeTable() -> OpaquePointer {
        let t = nftnl_table_alloc()!
        nftnl_table_set_str(t, UInt16(NFTNL_TABLE_NAME.rawValue), table.name)
        nftnl_table_set_u32(t, UInt16(NFTNL_TABLE_FAMILY.rawValue), table.family.kernelValue)
        return t
    }

    /// Builds one message in a scratch buffer with libnftnl and appends its bytes.
    private mutating func append(_ type: UInt16, flags: Int32, _ what: String, _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        append(type, flags: flags, { what }, payload)
    }

    private mutating func append(_ type: UInt16, flags: Int32, _ what: @escaping @Sendable () -> String,
                                 _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        let seq = nextSeq
        nextSeq &+= 1
        descriptions.append(what)
        var clean = Batch.scratchCleared
        while true {
            let done = Batch.withScratch(cleared: clean) { buffer -> Bool in
                let nlh = nftnl_nlmsg_build_hdr(buffer, type, UInt16(table.family.kernelValue), UInt16(flags | NLM_F_REQUEST), seq)!
                payload(nlh)
                let length = nftfwd_nlmsg_align(Int(nlh.pointee.nlmsg_len))
                // Longer than the cleared part: its padding may be stale, build it again.
                guard length <= clean else { return false }
                bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
                return true
            }
            if done { return }
            clean = Batch.scratchSize
        }
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

    /// The whole datagram: BATCH_BEGIN (carrying `generation` if given, so the kernel refuses the
    /// batch with ERESTART if the ruleset changed since it was read), the messages, BATCH_END.
    public func framed(generation: UInt32?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 64)
        Batch.withScratch { buffer in
            let begin: UnsafeMutablePointer<nlmsghdr>
            if let generation {
                begin = nftfwd_batch_begin_genid(buffer, firstSeq &- 1, generation)
            } else {
                begin = nftnl_batch_begin(buffer, firstSeq &- 1)!
            }
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(begin.pointee.nlmsg_len))))
        }
        out.append(contentsOf: bytes)
        Batch.withScratch { buffer in
            let end = nftnl_batch_end(buffer, nextSeq)!
            out.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(end.pointee.nlmsg_len))))
        }
        return out
    }
}
