import CNetfilter

/// The one place a `Batch`'s operations become netlink messages (libnftnl builds each), at
/// commit or trial: sequence numbers from the batch's first, and the batch-local set ids a
/// set added earlier in the same batch is referred to by (its elements' and rules' lookups
/// name it by id too, since it does not exist before the batch is applied).
struct BatchEncoder {
    let table: TableSpec
    private var seq: UInt32
    private var nextSetID: UInt32 = 1
    private var setIDs: [String: UInt32] = [:]

    init(table: TableSpec, seq: UInt32) {
        self.table = table
        self.seq = seq
    }

    /// Appends the message of `operation` (the next sequence number) to `out`.
    mutating func encode(_ operation: BatchOperation, into out: inout [UInt8]) {
        switch operation {
        case .addTable(let exclusive):
            let t = makeTable()
            defer { nftnl_table_free(t) }
            message(UInt16(NFT_MSG_NEWTABLE.rawValue), flags: exclusive ? NLM_F_CREATE | NLM_F_EXCL : NLM_F_CREATE, into: &out) {
                nftnl_table_nlmsg_build_payload($0, t)
            }
        case .deleteTable:
            let t = makeTable()
            defer { nftnl_table_free(t) }
            message(UInt16(NFT_MSG_DELTABLE.rawValue), flags: 0, into: &out) { nftnl_table_nlmsg_build_payload($0, t) }
        case .addChain(let chain):
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
            message(UInt16(NFT_MSG_NEWCHAIN.rawValue), flags: NLM_F_CREATE, into: &out) { nftnl_chain_nlmsg_build_payload($0, c) }
        case .addSet(let map):
            addSet(map, into: &out)
        case .addElement(let element, let map):
            elementMessage(UInt16(NFT_MSG_NEWSETELEM.rawValue), flags: NLM_F_CREATE | NLM_F_EXCL, element, map, into: &out)
        case .deleteElement(let key, let map):
            elementMessage(UInt16(NFT_MSG_DELSETELEM.rawValue), flags: 0, key, map, into: &out)
        case .addRule(let rule):
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
            message(UInt16(NFT_MSG_NEWRULE.rawValue), flags: NLM_F_CREATE | NLM_F_APPEND, into: &out) {
                nftnl_rule_nlmsg_build_payload($0, r)
            }
        case .deleteRule(let chain, let handle):
            let r = nftnl_rule_alloc()!
            defer { nftnl_rule_free(r) }
            nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table.name)
            nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
            nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), table.family.kernelValue)
            nftnl_rule_set_u64(r, UInt16(NFTNL_RULE_HANDLE.rawValue), handle)
            message(UInt16(NFT_MSG_DELRULE.rawValue), flags: 0, into: &out) { nftnl_rule_nlmsg_build_payload($0, r) }
        }
    }

    private mutating func addSet(_ map: SetSpec, into out: inout [UInt8]) {
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
        message(UInt16(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE, into: &out) { nftnl_set_nlmsg_build_payload($0, s) }
    }

    private mutating func elementMessage(_ type: UInt16, flags: Int32, _ element: Element, _ map: String, into out: inout [UInt8]) {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map)
        if let id = setIDs[map] { nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), id) }
        nftnl_set_elem_add(s, Batch.makeElement(element))
        message(type, flags: flags, into: &out) { nftnl_set_elems_nlmsg_build_payload($0, s) }
    }

    /// At least the bytes of the messages `operations` become, BATCH_BEGIN and END included,
    /// for reserving the datagram once. Elements, nearly all of a large batch, are bounded
    /// attribute by attribute (header, names, set id, the element's nests and its data, each
    /// padded); the few other messages at 4 KiB each (the longest rule is about 900 bytes). A
    /// bound too low only costs the array a regrowth, never a wrong byte.
    static func sizeBound(of operations: [BatchOperation], table: TableSpec) -> Int {
        func attribute(_ payload: Int) -> Int { 4 + (payload + 3) & ~3 }
        let header = 16 + 4 + attribute(table.name.utf8.count + 1) + attribute(4)
        var total = 2 * 64
        for operation in operations {
            switch operation {
            case .addElement(let e, let set), .deleteElement(let e, let set):
                var size = header + attribute(set.utf8.count + 1) + attribute(4) + 3 * 4
                size += attribute(attribute(e.key.count))
                if let end = e.keyEnd { size += attribute(attribute(end.count)) }
                size += attribute(4)
                if !e.value.isEmpty { size += attribute(attribute(e.value.count)) }
                if let comment = e.comment { size += attribute(min(comment.utf8.count, Element.maxCommentBytes) + 3) }
                total += size
            default:
                total += 4096
            }
        }
        return total
    }

    private func makeTable() -> OpaquePointer {
        let t = nftnl_table_alloc()!
        nftnl_table_set_str(t, UInt16(NFTNL_TABLE_NAME.rawValue), table.name)
        nftnl_table_set_u32(t, UInt16(NFTNL_TABLE_FAMILY.rawValue), table.family.kernelValue)
        return t
    }

    /// Builds one message in a scratch buffer with libnftnl and appends its bytes.
    private mutating func message(_ type: UInt16, flags: Int32, into out: inout [UInt8], _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        let seq = self.seq
        self.seq &+= 1
        var clean = Batch.scratchCleared
        while true {
            let done = Batch.withScratch(cleared: clean) { buffer -> Bool in
                let nlh = nftnl_nlmsg_build_hdr(buffer, type, UInt16(table.family.kernelValue), UInt16(flags | NLM_F_REQUEST), seq)!
                payload(nlh)
                let length = nftfwd_nlmsg_align(Int(nlh.pointee.nlmsg_len))
                // Longer than the cleared part: its padding may be stale, build it again.
                guard length <= clean else { return false }
                out.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
                return true
            }
            if done { return }
            clean = Batch.scratchSize
        }
    }
}

extension Batch {
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
}
