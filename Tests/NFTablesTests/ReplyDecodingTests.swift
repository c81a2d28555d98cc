import Testing
import CNetfilter
#if canImport(Glibc)
import Glibc
#endif
@_spi(Fuzzing) @testable import NFTables

/// Replies no kernel sends, built byte by byte: each test is an input the netlink fuzzers
/// (contrib/fuzz) found, or one of its neighbours, decoded without a socket.
@Suite("Reply decoding of hostile bytes")
struct ReplyDecodingTests {
    @Test("a rule expression without a name is refused before libnftnl reads it (libnftnl 1.2.4 passed NULL to strcmp)")
    func namelessExpression() {
        let counter = nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), cString("counter")))
        let nameless = nest(1, nest(UInt16(NFTA_EXPR_DATA.rawValue)))
        func rule(_ expressions: [UInt8]) -> [UInt8] {
            message(nftables: NFT_MSG_NEWRULE, attr(UInt16(NFTA_RULE_TABLE.rawValue), cString("t"))
                + attr(UInt16(NFTA_RULE_CHAIN.rawValue), cString("c"))
                + attr(UInt16(NFTA_RULE_EXPRESSIONS.rawValue) | UInt16(NLA_F_NESTED), expressions))
        }
        let good = NetlinkReply.decode(rule(counter))
        #expect(good.rules == [RuleRecord(chain: "c", handle: 0, values: [.counter])])
        let bad = NetlinkReply.decode(rule(counter + nameless))
        #expect(bad.rules.isEmpty)
        #expect(bad.refused == 1)
        // A name that is not NUL-terminated within its attribute is no name either.
        let unterminated = nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), Array("counter".utf8)))
        #expect(NetlinkReply.decode(rule(unterminated)).refused == 1)
    }

    @Test("rule expressions are read as values by their attributes: a match's info blob exactly as long as sent; a cmp without its data is no compare")
    func typedExpressions() {
        func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        func expression(_ name: String, _ data: [UInt8]) -> [UInt8] {
            nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), cString(name)), nest(UInt16(NFTA_EXPR_DATA.rawValue), data))
        }
        func rule(_ expressions: [UInt8]...) -> [UInt8] {
            message(nftables: NFT_MSG_NEWRULE, attr(UInt16(NFTA_RULE_TABLE.rawValue), cString("t"))
                + attr(UInt16(NFTA_RULE_CHAIN.rawValue), cString("c"))
                + attr(UInt16(NFTA_RULE_EXPRESSIONS.rawValue) | UInt16(NLA_F_NESTED), expressions.flatMap { $0 }))
        }
        let info: [UInt8] = (0..<13).map { UInt8($0) }
        // NFTA_MATCH_NAME, _REV, _INFO (linux/netfilter/nf_tables_compat.h, not in the shim).
        let match = expression("match", attr(1, cString("conntrack")) + attr(2, be32(3)) + attr(3, info))
        let dataless = expression("cmp", attr(UInt16(NFTA_CMP_SREG.rawValue), be32(1)) + attr(UInt16(NFTA_CMP_OP.rawValue), be32(1)))
        let decoded = NetlinkReply.decode(rule(match, dataless))
        #expect(decoded.rules.map(\.values) == [[.match(name: "conntrack", revision: 3, info: info), .other("cmp")]])
    }

    @Test("a table name without its NUL is refused")
    func unterminatedName() {
        let chain = message(nftables: NFT_MSG_NEWCHAIN, attr(UInt16(NFTA_CHAIN_TABLE.rawValue), Array("filter".utf8))
            + attr(UInt16(NFTA_CHAIN_NAME.rawValue), cString("c")))
        let decoded = NetlinkReply.decode(chain)
        #expect(decoded.chains.isEmpty)
        #expect(decoded.refused == 1)
    }

    @Test("an nf_tables message too short for its nfgenmsg is refused")
    func noFamilyHeader() {
        var bytes = message(nftables: NFT_MSG_NEWCHAIN, [])
        bytes = Array(bytes.prefix(16))
        bytes[0] = 16
        #expect(NetlinkReply.decode(bytes).refused == 1)
    }

    @Test("an NLMSG_ERROR too short for its nlmsgerr reads as EBADMSG, not past its end")
    func shortError() {
        let bytes = header(length: 20, type: UInt16(NLMSG_ERROR), flags: 0) + [0xfe, 0xff, 0xff, 0xff]
        #expect(NetlinkReply.decode(bytes).errors.map(\.errno) == [.init(EBADMSG)])
    }

    @Test("an extended ACK's text is read within its attribute, and a bad echoed length is ignored")
    func extendedAck() {
        func error(echoedLength: UInt32, text: [UInt8]) -> [UInt8] {
            let tlv = attr(UInt16(NLMSGERR_ATTR_MSG.rawValue), text)
            let body = le32(UInt32(bitPattern: -EINVAL)) + le32(echoedLength) + [UInt8](repeating: 0, count: 12) + tlv
            return header(length: UInt32(16 + body.count), type: UInt16(NLMSG_ERROR), flags: UInt16(NLM_F_ACK_TLVS)) + body
        }
        // Not NUL-terminated: the text stops with the attribute, not at the next zero byte.
        let unterminated = NetlinkReply.decode(error(echoedLength: 16, text: Array("bad key".utf8)))
        #expect(unterminated.errors == [.init(operation: "reply 0", errno: .init(EINVAL), detail: "bad key")])
        // An echoed request said to be longer than the whole reply: no TLVs are read.
        let overlong = NetlinkReply.decode(error(echoedLength: 4000, text: cString("bad key")))
        #expect(overlong.errors == [.init(operation: "reply 0", errno: .init(EINVAL), detail: nil)])
    }

    @Test("a rule's fingerprint ignores a counter's values, tells other expressions apart, and reads nothing past a cut message")
    func ruleFingerprint() {
        func expression(_ name: String, _ data: [UInt8]) -> [UInt8] {
            nest(UInt16(NFTA_LIST_ELEM.rawValue), attr(UInt16(NFTA_EXPR_NAME.rawValue), cString(name)), nest(UInt16(NFTA_EXPR_DATA.rawValue), data))
        }
        func counter(packets: UInt8) -> [UInt8] {
            expression("counter", attr(UInt16(NFTA_COUNTER_BYTES.rawValue), [0, 0, 0, 0, 0, 0, 0, packets &* 60])
                + attr(UInt16(NFTA_COUNTER_PACKETS.rawValue), [0, 0, 0, 0, 0, 0, 0, packets]))
        }
        let verdict = expression("immediate", attr(UInt16(NFTA_IMMEDIATE_DREG.rawValue), [0, 0, 0, 0]))
        let other = expression("immediate", attr(UInt16(NFTA_IMMEDIATE_DREG.rawValue), [0, 0, 0, 1]))
        let idle = NetlinkReply.decode(rule(counter(packets: 0), verdict)).ruleFingerprint
        #expect(!idle.isEmpty)
        #expect(NetlinkReply.decode(rule(counter(packets: 9), verdict)).ruleFingerprint == idle, "a counter's values moved it")
        #expect(NetlinkReply.decode(rule(counter(packets: 0), other)).ruleFingerprint != idle)
        #expect(NetlinkReply.decode(rule(verdict, counter(packets: 0))).ruleFingerprint != idle, "the order is part of it")
        // Two rules are not one rule with both expressions.
        #expect(NetlinkReply.decode(rule(counter(packets: 0)) + rule(verdict)).ruleFingerprint != idle)

        // Cut inside the last expression (message and datagram end there): the expression list,
        // whose length says more than the message holds, is left out whole, not read past the
        // end: the fingerprint is that of a rule without expressions.
        var cut = rule(counter(packets: 0), verdict)
        cut.removeLast(6)
        cut[0] -= 6
        #expect(NetlinkReply.decode(cut).ruleFingerprint == NetlinkReply.decode(rule()).ruleFingerprint)
        #expect(NetlinkReply.decode(cut).ruleFingerprint != idle)
    }

    @Test("an extended ACK's text cut short by the message's end is not read (the conntrack fuzzer's heap overflow: the aligned tail ran past the datagram)")
    func extendedAckTail() {
        let tlv = attr(UInt16(NLMSGERR_ATTR_MSG.rawValue), Array("bad".utf8))   // 7 bytes, padded to 8
        let body = le32(UInt32(bitPattern: -EINVAL)) + le32(16) + [UInt8](repeating: 0, count: 12) + tlv
        var bytes = header(length: UInt32(16 + body.count), type: UInt16(NLMSG_ERROR), flags: UInt16(NLM_F_ACK_TLVS)) + body
        #expect(NetlinkReply.decode(bytes).errors == [.init(operation: "reply 0", errno: .init(EINVAL), detail: "bad")])
        // The message and the datagram now end one byte into the text: the attribute says 7
        // bytes, the message holds 6 of them, so it is not read at all.
        bytes.removeLast(2)
        bytes[0] -= 2
        #expect(NetlinkReply.decode(bytes).errors == [.init(operation: "reply 0", errno: .init(EINVAL), detail: nil)])
    }

    @Test("a ctnetlink attribute cut short by the message's end is not read (the aligned tail ran past the datagram)")
    func conntrackTail() {
        let original = nest(UInt16(CTA_TUPLE_ORIG.rawValue),
                            nest(UInt16(CTA_TUPLE_IP.rawValue), attr(UInt16(CTA_IP_V4_SRC.rawValue), [10, 0, 0, 1]),
                                 attr(UInt16(CTA_IP_V4_DST.rawValue), [10, 0, 0, 2])),
                            nest(UInt16(CTA_TUPLE_PROTO.rawValue), attr(UInt16(CTA_PROTO_NUM.rawValue), [6])))
        let id = attr(UInt16(CTA_ID.rawValue), [0, 0, 0, 9])
        var bytes = message(conntrack: original + id)
        #expect(NetlinkReply.decode(bytes).conntrack.map(\.id) == [9])
        // The message now ends two bytes into CTA_ID's payload; the datagram ends there too.
        bytes.removeLast(2)
        bytes[0] -= 2
        let flows = NetlinkReply.decode(bytes).conntrack
        #expect(flows.map(\.id) == [0])
        // No reply tuple: its addresses print as "?", not as whatever inet_ntop found.
        #expect(flows.first?.description == "proto 6 10.0.0.1:0 -> 10.0.0.2:0 (replies from ?:0 to ?, id 0)")
    }

    @Test("a message longer than the datagram stops the framing with an error")
    func truncated() {
        var bytes = message(nftables: NFT_MSG_NEWGEN, [])
        bytes[0] = 200
        #expect(NetlinkReply.decode(bytes).framingError == "malformed netlink reply: truncated netlink message (200 bytes at 0 of 20)")
    }

    @Test("the nftnl fuzzer's NEWSETELEM (an element attribute of type 16, which libnftnl 1.2.4 stores past its table) is refused")
    func fuzzerElementsDatagram() throws {
        // contrib/fuzz/corpus/netlink holds it, so the fuzzers replay it on every run.
        let path = String(#filePath.dropLast("Tests/NFTablesTests/ReplyDecodingTests.swift".count))
            + "contrib/fuzz/corpus/netlink/crash-elements-type16-32778173"
        let bytes = try #require(readFile(path))
        #expect(bytes.count == 2141)
        let decoded = NetlinkReply.decode(bytes)
        #expect(decoded.elements.isEmpty)
        #expect(decoded.refused == 1)
        #expect(decoded.framingError != nil)   // the bytes after the first message are no message
    }

    @Test("an element attribute of a type libnftnl 1.2.4 stores past its table (12...18) is refused", arguments: 12...19)
    func elementTypePastTable(type: UInt16) {
        let decoded = NetlinkReply.decode(elements(element(key: [10, 0, 0, 1], attr(type, [0, 0, 0, 0]))))
        if ReplyCheck.elementTypesPastTable.contains(type) {
            #expect(decoded.elements.isEmpty)
            #expect(decoded.refused == 1)
        } else {
            // Past NFTA_SET_MAX libnftnl skips the type: the element reads as usual.
            #expect(decoded.elements.map(\.key) == [[10, 0, 0, 1]])
            #expect(decoded.refused == 0)
        }
    }

    @Test("a verdict without its code, or a jump without its chain, is refused in element data and in an immediate")
    func verdicts() {
        let jump = be32(UInt32(bitPattern: NFT_JUMP.rawValue))
        func verdict(_ fields: [UInt8]...) -> [UInt8] {
            nest(UInt16(NFTA_DATA_VERDICT.rawValue), fields.flatMap { $0 })
        }
        let code = UInt16(NFTA_VERDICT_CODE.rawValue), chain = UInt16(NFTA_VERDICT_CHAIN.rawValue)
        let good = [verdict(attr(code, jump), attr(chain, cString("c"))),
                    verdict(attr(code, be32(UInt32(NF_ACCEPT))))]
        let bad = [verdict(attr(code, jump)),                                   // jump, no chain (the fuzzer's)
                   verdict(attr(chain, cString("c"))),                          // no code
                   verdict(),                                                   // empty
                   verdict(attr(code, [0, 0])),                                 // a code of 2 bytes
                   verdict(attr(code, jump), attr(chain, Array("c".utf8)))]      // chain without its NUL
        func inElement(_ v: [UInt8]) -> NetlinkReply.Decoded {
            NetlinkReply.decode(elements(element(key: [10, 0, 0, 1], nest(UInt16(NFTA_SET_ELEM_DATA.rawValue), v))))
        }
        func inRule(_ v: [UInt8]) -> NetlinkReply.Decoded {
            let immediate = nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), cString("immediate")),
                                 nest(UInt16(NFTA_EXPR_DATA.rawValue), attr(UInt16(NFTA_IMMEDIATE_DREG.rawValue), be32(0)),
                                      nest(UInt16(NFTA_IMMEDIATE_DATA.rawValue), v)))
            return NetlinkReply.decode(rule(immediate))
        }
        for v in good {
            #expect(inElement(v).elements.count == 1)
            #expect(inRule(v).rules.count == 1)
        }
        for v in bad {
            #expect(inElement(v).refused == 1)
            #expect(inRule(v).refused == 1)
        }
        // As an element's key too (nftnl_parse_data reads a verdict wherever one is).
        #expect(NetlinkReply.decode(elements(nest(1, nest(UInt16(NFTA_SET_ELEM_KEY.rawValue), bad[0])))).refused == 1)
    }

    @Test("strings inside expressions need their NUL: a lookup's set, a log prefix")
    func expressionStrings() {
        func lookup(_ set: [UInt8]) -> [UInt8] {
            nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), cString("lookup")),
                 nest(UInt16(NFTA_EXPR_DATA.rawValue), attr(UInt16(NFTA_LOOKUP_SET.rawValue), set),
                      attr(UInt16(NFTA_LOOKUP_SREG.rawValue), be32(1))))
        }
        #expect(NetlinkReply.decode(rule(lookup(cString("allowed")))).rules.count == 1)
        #expect(NetlinkReply.decode(rule(lookup(Array("allowed".utf8)))).refused == 1)
        let log = nest(1, attr(UInt16(NFTA_EXPR_NAME.rawValue), cString("log")),
                       nest(UInt16(NFTA_EXPR_DATA.rawValue), attr(UInt16(NFTA_LOG_PREFIX.rawValue), Array("drop".utf8))))
        #expect(NetlinkReply.decode(rule(log)).refused == 1)
    }

    @Test("a set concatenating more than 16 fields is refused (libnftnl's array of field lengths holds 16)")
    func concatenatedFields() {
        func set(fields: Int) -> [UInt8] {
            let field = nest(UInt16(NFTA_LIST_ELEM.rawValue), attr(UInt16(NFTA_SET_FIELD_LEN.rawValue), be32(4)))
            let description = nest(UInt16(NFTA_SET_DESC.rawValue),
                                   nest(UInt16(NFTA_SET_DESC_CONCAT.rawValue), Array(repeating: field, count: fields).flatMap { $0 }))
            return message(nftables: NFT_MSG_NEWSET, attr(UInt16(NFTA_SET_TABLE.rawValue), cString("t"))
                + attr(UInt16(NFTA_SET_NAME.rawValue), cString("s")) + description)
        }
        #expect(NetlinkReply.decode(set(fields: 16)).sets.count == 1)
        let decoded = NetlinkReply.decode(set(fields: 17))
        #expect(decoded.sets.isEmpty)
        #expect(decoded.refused == 1)
    }

    @Test("a base chain's device name without its NUL is refused")
    func hookDevice() {
        func chain(_ device: [UInt8]) -> [UInt8] {
            message(nftables: NFT_MSG_NEWCHAIN, attr(UInt16(NFTA_CHAIN_TABLE.rawValue), cString("t"))
                + attr(UInt16(NFTA_CHAIN_NAME.rawValue), cString("c"))
                + nest(UInt16(NFTA_CHAIN_HOOK.rawValue), nest(UInt16(NFTA_HOOK_DEVS.rawValue), attr(UInt16(NFTA_DEVICE_NAME.rawValue), device))))
        }
        #expect(NetlinkReply.decode(chain(cString("eth0"))).chains.count == 1)
        #expect(NetlinkReply.decode(chain(Array("eth0".utf8))).refused == 1)
    }

    // MARK: - Building messages

    private func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    private func element(key: [UInt8], _ fields: [UInt8]...) -> [UInt8] {
        nest(UInt16(NFTA_LIST_ELEM.rawValue),
             nest(UInt16(NFTA_SET_ELEM_KEY.rawValue), attr(UInt16(NFTA_DATA_VALUE.rawValue), key)) + fields.flatMap { $0 })
    }

    private func elements(_ list: [UInt8]...) -> [UInt8] {
        message(nftables: NFT_MSG_NEWSETELEM, attr(UInt16(NFTA_SET_ELEM_LIST_TABLE.rawValue), cString("t"))
            + attr(UInt16(NFTA_SET_ELEM_LIST_SET.rawValue), cString("s"))
            + nest(UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue), list.flatMap { $0 }))
    }

    private func rule(_ expressions: [UInt8]...) -> [UInt8] {
        message(nftables: NFT_MSG_NEWRULE, attr(UInt16(NFTA_RULE_TABLE.rawValue), cString("t"))
            + attr(UInt16(NFTA_RULE_CHAIN.rawValue), cString("c"))
            + nest(UInt16(NFTA_RULE_EXPRESSIONS.rawValue), expressions.flatMap { $0 }))
    }

    private func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while case let n = fread(&chunk, 1, chunk.count, file), n > 0 { bytes += chunk[..<n] }
        return bytes
    }

    private func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private func cString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    private func attr(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let bytes = le16(UInt16(4 + payload.count)) + le16(type) + payload
        return bytes + [UInt8](repeating: 0, count: (4 - bytes.count % 4) % 4)
    }

    private func nest(_ type: UInt16, _ children: [UInt8]...) -> [UInt8] {
        attr(type | UInt16(NLA_F_NESTED), children.flatMap { $0 })
    }

    private func header(length: UInt32, type: UInt16, flags: UInt16) -> [UInt8] {
        le32(length) + le16(type) + le16(flags) + le32(0) + le32(0)
    }

    private func message(nftables type: nf_tables_msg_types, _ attributes: [UInt8]) -> [UInt8] {
        let payload = [UInt8(NFPROTO_INET), 0, 0, 0] + attributes
        return header(length: UInt32(16 + payload.count), type: UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(type.rawValue), flags: 0) + payload
    }

    private func message(conntrack attributes: [UInt8]) -> [UInt8] {
        let payload = [UInt8(AF_INET), 0, 0, 0] + attributes
        return header(length: UInt32(16 + payload.count), type: UInt16(NFNL_SUBSYS_CTNETLINK) << 8, flags: 0) + payload
    }
}
