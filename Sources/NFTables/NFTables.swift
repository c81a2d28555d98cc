import CNetfilter
#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// Talks nf_tables over one netlink socket: reads tables, chains, maps, rules and elements,
/// and commits batches. Knows nothing of ports or mappings.
///
/// Concurrency model: like its socket, owned by one thread at a time.
public final class NFTables {
    public let socket: NetlinkSocket

    public init() throws(NetlinkError) {
        socket = try NetlinkSocket()
    }

    // MARK: - Generation

    /// The ruleset generation id: it changes with every committed batch, by anyone.
    public func generation() throws(NetlinkError) -> UInt32 {
        var id: UInt32?
        try request(UInt16(NFT_MSG_GETGEN.rawValue), family: .inet, flags: NLM_F_ACK, what: "get generation",
                    build: { _ in }) { nlh throws(NetlinkError) in
            guard nftfwd_nlmsg_type(nlh) & 0xff == UInt32(NFT_MSG_NEWGEN.rawValue) else { return }
            guard let gen = ReplyParsers.generation(nlh) else { throw .malformedReply("generation") }
            id = gen
        }
        guard let id else { throw .malformedReply("no generation id in reply") }
        return id
    }

    // MARK: - Reading a table

    /// Whether the table exists.
    public func tableExists(_ table: TableSpec) throws(NetlinkError) -> Bool {
        let t = nftnl_table_alloc()!
        defer { nftnl_table_free(t) }
        nftnl_table_set_str(t, UInt16(NFTNL_TABLE_NAME.rawValue), table.name)
        do throws(NetlinkError) {
            try request(UInt16(NFT_MSG_GETTABLE.rawValue), family: table.family, flags: NLM_F_ACK,
                        what: "get table \(table.family) \(table.name)",
                        build: { nftnl_table_nlmsg_build_payload($0, t) }, parse: { _ in })
            return true
        } catch {
            if case .request(_, let e) = error, e == .noEntry { return false }
            throw error
        }
    }

    public func chains(of table: TableSpec) throws(NetlinkError) -> [ChainRecord] {
        try chains(family: table.family, table: table.name)
    }

    /// Every chain of every table, of every family (ip, ip6, inet, but also arp, bridge and
    /// netdev): what other programs hook into the same traffic.
    public func allChains() throws(NetlinkError) -> [ChainRecord] {
        try chains(family: nil, table: nil)
    }

    private func chains(family: TableFamily?, table: String?) throws(NetlinkError) -> [ChainRecord] {
        var out: [ChainRecord] = []
        let filter = nftnl_chain_alloc()!
        defer { nftnl_chain_free(filter) }
        if let table { nftnl_chain_set_str(filter, UInt16(NFTNL_CHAIN_TABLE.rawValue), table) }
        try dump(UInt16(NFT_MSG_GETCHAIN.rawValue), familyValue: family?.kernelValue ?? UInt32(NFPROTO_UNSPEC), what: "list chains",
                 build: { nftnl_chain_nlmsg_build_payload($0, filter) }) { nlh throws(NetlinkError) in
            let chain = try ReplyParsers.chain(nlh)
            if let table, chain.table != table { return }
            out.append(chain)
        }
        return out
    }

    public func sets(of table: TableSpec) throws(NetlinkError) -> [SetRecord] {
        var out: [SetRecord] = []
        let filter = nftnl_set_alloc()!
        defer { nftnl_set_free(filter) }
        nftnl_set_set_str(filter, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        try dump(UInt16(NFT_MSG_GETSET.rawValue), family: table.family, what: "list maps",
                 build: { nftnl_set_nlmsg_build_payload($0, filter) }) { nlh throws(NetlinkError) in
            let set = try ReplyParsers.set(nlh)
            guard set.table == table.name else { return }
            out.append(set.record)
        }
        return out
    }

    /// The rules of a table, or of one chain of it.
    public func rules(of table: TableSpec, chain: String? = nil) throws(NetlinkError) -> [RuleRecord] {
        var out: [RuleRecord] = []
        let filter = nftnl_rule_alloc()!
        defer { nftnl_rule_free(filter) }
        nftnl_rule_set_str(filter, UInt16(NFTNL_RULE_TABLE.rawValue), table.name)
        if let chain { nftnl_rule_set_str(filter, UInt16(NFTNL_RULE_CHAIN.rawValue), chain) }
        try dump(UInt16(NFT_MSG_GETRULE.rawValue), family: table.family, what: "list rules",
                 build: { nftnl_rule_nlmsg_build_payload($0, filter) }) { nlh throws(NetlinkError) in
            let rule = try ReplyParsers.rule(nlh)
            guard rule.table == table.name else { return }
            if let chain, rule.record.chain != chain { return }
            out.append(rule.record)
        }
        return out
    }

    /// Every rule of `table` and their fingerprint, from one dump: the messages are kept as
    /// they came and parsed only when the fingerprint is not `known`.
    public func rules(of table: TableSpec, unlessFingerprint known: [UInt8]?) throws(NetlinkError) -> (fingerprint: [UInt8], rules: [RuleRecord]?) {
        var fingerprint: [UInt8] = [], messages: [[UInt8]] = []
        fingerprint.reserveCapacity(32 * 1024)
        let filter = nftnl_rule_alloc()!
        defer { nftnl_rule_free(filter) }
        nftnl_rule_set_str(filter, UInt16(NFTNL_RULE_TABLE.rawValue), table.name)
        try dump(UInt16(NFT_MSG_GETRULE.rawValue), family: table.family, what: "list rules",
                 build: { nftnl_rule_nlmsg_build_payload($0, filter) }) { nlh throws(NetlinkError) in
            RuleFingerprint.append(nlh, to: &fingerprint)
            messages.append(Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(nlh), count: Int(nlh.pointee.nlmsg_len))))
        }
        if let known, known == fingerprint { return (fingerprint, nil) }
        var out: [RuleRecord] = []
        for message in messages {
            // A copy with a message's alignment (withUnsafeBytes would lose the typed throw).
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: message.count, alignment: MemoryLayout<nlmsghdr>.alignment)
            defer { copy.deallocate() }
            copy.copyBytes(from: message)
            let rule = try ReplyParsers.rule(UnsafePointer(copy.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)))
            if rule.table == table.name { out.append(rule.record) }
        }
        return (fingerprint, out)
    }

    /// Every element of a map.
    public func elements(of table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord] {
        var out: [ElementRecord] = []
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map)
        try dump(UInt16(NFT_MSG_GETSETELEM.rawValue), family: table.family, what: "list elements of \(map)",
                 build: { nftnl_set_elems_nlmsg_build_payload($0, s) }) { nlh throws(NetlinkError) in
            out += try NFTables.parseElements(nlh)
        }
        return out
    }

    /// Looks up the given keys in a map, pipelined: one round trip per 256 keys.
    /// Returns the element for each key, or nil where the map has no such key.
    public func lookup(_ keys: [[UInt8]], in table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord?] {
        var out: [ElementRecord?] = []
        out.reserveCapacity(keys.count)
        var start = 0
        while start < keys.count {
            let end = min(start + 256, keys.count)
            out += try lookupChunk(Array(keys[start..<end]), in: table, map: map)
            start = end
        }
        return out
    }

    /// One round trip: the kernel queues every reply while still inside sendto, so the
    /// chunk is sized for the receive buffer. The requests differ only in their sequence
    /// number and key (`LookupRequests`), and the replies are matched by sequence number.
    private func lookupChunk(_ keys: [[UInt8]], in table: TableSpec, map: String) throws(NetlinkError) -> [ElementRecord?] {
        guard !keys.isEmpty else { return [] }
        let first = socket.allocateSeqs(keys.count)
        let datagram = LookupRequests.datagram(keys, table: table, map: map, firstSeq: first)
        var results = [ElementRecord?](repeating: nil, count: keys.count)
        var pending = keys.count
        socket.reserve(sendBytes: datagram.count, expectedReplies: keys.count * 2)
        try socket.send(datagram)
        try socket.receive { nlh throws(NetlinkError) in
            let index = Int(nlh.pointee.nlmsg_seq &- first)
            guard index < keys.count else { return .more }
            if nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR) {
                var err = nftfwd_nlerr()
                nftfwd_parse_error(nlh, &err)
                if err.error != 0 && err.error != ENOENT {
                    throw .request(what: "get element of \(map)", errno: Errno(err.error))
                }
                pending -= 1
                return pending == 0 ? .stop : .more
            }
            results[index] = try NFTables.parseElements(nlh).first
            return .more
        }
        return results
    }

    static func parseElements(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> [ElementRecord] {
        guard ReplyCheck.elements(nlh) else { throw .malformedReply("set elements") }
        let set = nftnl_set_alloc()!
        defer { nftnl_set_free(set) }
        guard nftnl_set_elems_nlmsg_parse(nlh, set) >= 0 else { throw .malformedReply("set elements") }
        var out: [ElementRecord] = []
        let iter = nftnl_set_elems_iter_create(set)!
        defer { nftnl_set_elems_iter_destroy(iter) }
        // nftnl_set_elems_iter_next returns the current element and then advances.
        while let e = nftnl_set_elems_iter_next(iter) {
            func bytes(_ attr: Int) -> [UInt8] {
                var length: UInt32 = 0
                guard nftnl_set_elem_is_set(e, UInt16(attr)),
                      let p = nftnl_set_elem_get(e, UInt16(attr), &length) else { return [] }
                return Array(UnsafeRawBufferPointer(start: p, count: Int(length)))
            }
            var counter = CounterValues()
            _ = withUnsafeMutablePointer(to: &counter) { ptr in
                nftnl_set_elem_expr_foreach(e, { expr, data in
                    let name = nftnl_expr_get_str(expr, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) }
                    if name == "counter" {
                        let c = data!.assumingMemoryBound(to: CounterValues.self)
                        c.pointee.packets = nftnl_expr_get_u64(expr, UInt16(NFTNL_EXPR_CTR_PACKETS))
                        c.pointee.bytes = nftnl_expr_get_u64(expr, UInt16(NFTNL_EXPR_CTR_BYTES))
                    }
                    return 0
                }, ptr)
            }
            let udata = bytes(Int(NFTNL_SET_ELEM_USERDATA))
            let flags = nftnl_set_elem_is_set(e, UInt16(NFTNL_SET_ELEM_FLAGS)) ? nftnl_set_elem_get_u32(e, UInt16(NFTNL_SET_ELEM_FLAGS)) : 0
            out.append(ElementRecord(key: bytes(Int(NFTNL_SET_ELEM_KEY)), value: bytes(Int(NFTNL_SET_ELEM_DATA)),
                                     comment: udata.isEmpty ? nil : Element.comment(fromUserdata: udata),
                                     packets: counter.packets, bytes: counter.bytes,
                                     keyEnd: bytes(Int(NFTNL_SET_ELEM_KEY_END)),
                                     intervalEnd: flags & UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue) != 0))
        }
        return out
    }

    // MARK: - Committing

    /// Sends the batch in one datagram and reports whether the kernel committed it.
    ///
    /// The kernel processes a batch inside `sendto` and applies none of it if any message
    /// fails; it then reports every failing message. A GETGEN request sent right after acts
    /// as a fence: its reply comes after every reply to the batch, so once it arrives we know
    /// all errors have been seen. No error at all means committed. Returns the new generation.
    @discardableResult
    public func commit(_ batch: Batch, expectingGeneration generation: UInt32?) throws(NetlinkError) -> UInt32 {
        let datagram = batch.framed(generation: generation)
        socket.reserve(sendBytes: datagram.count, expectedReplies: batch.count)
        try socket.send(datagram)
        var rejections: [NetlinkError.Rejection] = []
        var overflowed = false
        let fenceSeq = socket.allocateSeq()
        try sendRequest(UInt16(NFT_MSG_GETGEN.rawValue), family: .inet, flags: NLM_F_ACK, seq: fenceSeq) { _ in }
        var newGeneration: UInt32 = 0
        do throws(NetlinkError) {
            try socket.receive { nlh throws(NetlinkError) in
                let seq = nlh.pointee.nlmsg_seq
                if seq == fenceSeq {
                    if nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR) { return .stop }
                    if let gen = ReplyParsers.generation(nlh) { newGeneration = gen }
                    return .more
                }
                guard nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR) else { return .more }
                // Only replies to this batch's messages (BEGIN .. END) count.
                guard seq &- (batch.firstSeq &- 1) <= UInt32(batch.count + 1) else { return .more }
                let err = ReplyParsers.error(nlh)
                guard err.errno != 0 else { return .more }
                let what: String
                if let op = batch.operation(seq) { what = op }
                else if seq == batch.firstSeq &- 1 { what = "begin batch" }
                else { what = "batch (message \(seq))" }
                rejections.append(.init(operation: what, errno: Errno(err.errno), detail: err.detail))
                return .more
            }
        } catch {
            // Replies were dropped: there were so many errors that they overflowed our buffer,
            // which only happens when the kernel refused the batch.
            guard case .system(_, let e) = error, e == .noBufferSpace else { throw error }
            overflowed = true
        }
        if overflowed && rejections.isEmpty {
            rejections.append(.init(operation: "batch", errno: .noBufferSpace, detail: "replies overflowed the socket buffer"))
        }
        if !rejections.isEmpty { throw .rejected(rejections) }
        // Every committed batch moves the generation on. The kernel drops some malformed
        // batches without an error; never take such silence for success.
        if let generation, !batch.isEmpty, newGeneration == generation {
            throw .notApplied
        }
        // A batch that carried a generation made exactly the next one (nf_tables adds one per
        // commit, skipping 0). The fence may already see another writer's commit after ours:
        // its generation would claim their change as ours (the restorer took a table deleted
        // right after its restore for a restore that had not taken, and paused for 10 s).
        if let generation, !batch.isEmpty { return generation &+ 1 == 0 ? 1 : generation &+ 1 }
        return newGeneration
    }

    /// Lets the kernel check every message of `batch` without applying any: the batch is
    /// sent as a real transaction that ends in messages the kernel must refuse, so it rolls
    /// everything back (nothing is committed, the generation does not move). Returns the
    /// kernel's objections to the batch's own messages; none means it would have accepted them.
    public func trial(_ batch: Batch) throws(NetlinkError) -> [NetlinkError.Rejection] {
        var batch = batch
        batch.addTrialEnd()
        do {
            try commit(batch, expectingGeneration: nil)
        } catch {
            guard case .rejected(let all) = error else { throw error }
            let own = all.filter { $0.operation != Batch.trialEnd }
            // Without the planned refusal the kernel refused the batch as a whole (EPERM for
            // a caller without CAP_NET_ADMIN) before reading its messages.
            guard own.count < all.count else { throw error }
            return own
        }
        // Two exclusive creations of one table cannot both succeed.
        throw .malformedReply("the kernel accepted a trial batch")
    }

    // MARK: - Request plumbing

    private func sendRequest(_ type: UInt16, family: TableFamily, flags: Int32, seq: UInt32,
                             build: (UnsafeMutablePointer<nlmsghdr>) -> Void) throws(NetlinkError) {
        try sendRequest(type, familyValue: family.kernelValue, flags: flags, seq: seq, build: build)
    }

    private func sendRequest(_ type: UInt16, familyValue: UInt32, flags: Int32, seq: UInt32,
                             build: (UnsafeMutablePointer<nlmsghdr>) -> Void) throws(NetlinkError) {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 8192)
        defer { buffer.deallocate() }
        let nlh = nftnl_nlmsg_build_hdr(buffer, type, UInt16(familyValue), UInt16(NLM_F_REQUEST | flags), seq)!
        build(nlh)
        try socket.send(UnsafeRawBufferPointer(start: buffer, count: Int(nlh.pointee.nlmsg_len)))
    }

    /// One request, replies until its ACK or error.
    private func request(_ type: UInt16, family: TableFamily, flags: Int32, what: String,
                         build: (UnsafeMutablePointer<nlmsghdr>) -> Void,
                         parse: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let seq = socket.allocateSeq()
        try sendRequest(type, family: family, flags: flags, seq: seq, build: build)
        try socket.receive { nlh throws(NetlinkError) in
            guard nlh.pointee.nlmsg_seq == seq else { return .more }
            if nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR) {
                var err = nftfwd_nlerr()
                nftfwd_parse_error(nlh, &err)
                if err.error != 0 { throw .request(what: what, errno: Errno(err.error)) }
                return .stop
            }
            try parse(nlh)
            return .more
        }
    }

    /// A dump: replies until NLMSG_DONE.
    private func dump(_ type: UInt16, family: TableFamily, what: String,
                      build: (UnsafeMutablePointer<nlmsghdr>) -> Void,
                      parse: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try dump(type, familyValue: family.kernelValue, what: what, build: build, parse: parse)
    }

    /// A dump of one NFPROTO_* family, or of all (NFPROTO_UNSPEC).
    private func dump(_ type: UInt16, familyValue: UInt32, what: String,
                      build: (UnsafeMutablePointer<nlmsghdr>) -> Void,
                      parse: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let seq = socket.allocateSeq()
        try sendRequest(type, familyValue: familyValue, flags: NLM_F_DUMP, seq: seq, build: build)
        try socket.receiveDump(seq: seq, what: what, parse)
    }
}

private struct CounterValues { var packets: UInt64 = 0; var bytes: UInt64 = 0 }
