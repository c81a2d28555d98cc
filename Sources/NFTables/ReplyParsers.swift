import CNetfilter

/// The readers of single nf_tables reply messages, apart from the requests that fetch them,
/// so they can be fed bytes that no socket delivered (`NetlinkReply.decode`, the fuzzer).
/// Each takes one whole message, as `NetlinkMessages.forEach` hands it out.
enum ReplyParsers {
    /// Whether the message is long enough for the nfgenmsg after its header: libnftnl's
    /// parsers read that header's family without checking the message's length.
    static func hasFamilyHeader(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        Int(nlh.pointee.nlmsg_len) >= nftfwd_nlmsg_hdrlen() + MemoryLayout<nfgenmsg>.size
    }

    /// NFT_MSG_NEWCHAIN.
    static func chain(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> ChainRecord {
        guard ReplyCheck.chain(nlh) else { throw .malformedReply("chain") }
        let c = nftnl_chain_alloc()!
        defer { nftnl_chain_free(c) }
        guard nftnl_chain_nlmsg_parse(nlh, c) >= 0 else { throw .malformedReply("chain") }
        func has(_ a: nftnl_chain_attr) -> Bool { nftnl_chain_is_set(c, UInt16(a.rawValue)) }
        return ChainRecord(
            name: string(nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_NAME.rawValue))),
            type: has(NFTNL_CHAIN_TYPE) ? string(nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_TYPE.rawValue))) : nil,
            hook: has(NFTNL_CHAIN_HOOKNUM) ? nftnl_chain_get_u32(c, UInt16(NFTNL_CHAIN_HOOKNUM.rawValue)) : nil,
            priority: has(NFTNL_CHAIN_PRIO) ? nftnl_chain_get_s32(c, UInt16(NFTNL_CHAIN_PRIO.rawValue)) : nil,
            policy: has(NFTNL_CHAIN_POLICY) ? nftnl_chain_get_u32(c, UInt16(NFTNL_CHAIN_POLICY.rawValue)) : nil,
            table: string(nftnl_chain_get_str(c, UInt16(NFTNL_CHAIN_TABLE.rawValue))),
            familyValue: nftnl_chain_get_u32(c, UInt16(NFTNL_CHAIN_FAMILY.rawValue)))
    }

    /// NFT_MSG_NEWSET, with the table it belongs to (a dump filtered by table name may still
    /// carry other tables' sets).
    static func set(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> (table: String, record: SetRecord) {
        guard ReplyCheck.set(nlh) else { throw .malformedReply("set") }
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        guard nftnl_set_nlmsg_parse(nlh, s) >= 0 else { throw .malformedReply("set") }
        func u32(_ a: nftnl_set_attr) -> UInt32 { nftnl_set_get_u32(s, UInt16(a.rawValue)) }
        var names = ExpressionNames()
        _ = withUnsafeMutablePointer(to: &names) { ptr in
            nftnl_set_expr_foreach(s, { e, data in
                let name = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
                data!.assumingMemoryBound(to: ExpressionNames.self).pointee.names.append(name)
                return 0
            }, ptr)
        }
        let record = SetRecord(
            name: string(nftnl_set_get_str(s, UInt16(NFTNL_SET_NAME.rawValue))),
            flags: u32(NFTNL_SET_FLAGS), keyType: u32(NFTNL_SET_KEY_TYPE), keyLength: u32(NFTNL_SET_KEY_LEN),
            dataType: u32(NFTNL_SET_DATA_TYPE), dataLength: u32(NFTNL_SET_DATA_LEN), expressions: names.names)
        return (string(nftnl_set_get_str(s, UInt16(NFTNL_SET_TABLE.rawValue))), record)
    }

    /// NFT_MSG_NEWRULE, with its table.
    static func rule(_ nlh: UnsafePointer<nlmsghdr>) throws(NetlinkError) -> (table: String, record: RuleRecord) {
        guard ReplyCheck.rule(nlh) else { throw .malformedReply("rule") }
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        guard nftnl_rule_nlmsg_parse(nlh, r) >= 0 else { throw .malformedReply("rule") }
        var values: [ExpressionRecord] = []
        let iter = nftnl_expr_iter_create(r)!
        defer { nftnl_expr_iter_destroy(iter) }
        while let e = nftnl_expr_iter_next(iter) { values.append(ExpressionRecord.read(e)) }
        let record = RuleRecord(
            chain: string(nftnl_rule_get_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue))),
            handle: nftnl_rule_get_u64(r, UInt16(NFTNL_RULE_HANDLE.rawValue)),
            values: values)
        return (string(nftnl_rule_get_str(r, UInt16(NFTNL_RULE_TABLE.rawValue))), record)
    }

    /// NFT_MSG_NEWGEN: the ruleset generation id; nil when the message has none.
    static func generation(_ nlh: UnsafePointer<nlmsghdr>) -> UInt32? {
        guard hasFamilyHeader(nlh) else { return nil }
        let gen = nftnl_gen_alloc()!
        defer { nftnl_gen_free(gen) }
        guard nftnl_gen_nlmsg_parse(nlh, gen) >= 0, nftnl_gen_is_set(gen, UInt16(NFTNL_GEN_ID)) else { return nil }
        return nftnl_gen_get_u32(gen, UInt16(NFTNL_GEN_ID))
    }

    /// NLMSG_ERROR: the errno (0 for an ACK) and the extended ACK's text, if any.
    static func error(_ nlh: UnsafePointer<nlmsghdr>) -> (errno: Int32, detail: String?) {
        var err = nftfwd_nlerr()
        nftfwd_parse_error(nlh, &err)
        let detail = withUnsafeBytes(of: err.msg) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return (err.error, detail.isEmpty ? nil : detail)
    }
}

private struct ExpressionNames { var names: [String] = [] }

func string(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
