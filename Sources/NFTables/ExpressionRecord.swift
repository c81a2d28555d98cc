import CNetfilter

/// One expression of a rule as the kernel lists it back, read attribute by attribute
/// (`nftnl_expr_get_*`), so a reader matches values, not libnftnl's printed text. The kinds
/// nftfwd's checks look at are cases of their own; every other kind is `.other(name)`, as is
/// a known kind with an attribute those cases do not model (a `ct original ...` direction, a
/// bitwise shift), so nothing reads as something it is not.
public enum ExpressionRecord: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case accept, drop, `return`, `continue`, jump(String), goto(String)
        /// A verdict code nftfwd has no name for.
        case code(Int32)
    }

    /// `meta KEY` into a register (key: NFT_META_*, e.g. `Expression.MetaKey.oifname.kernelValue`).
    case meta(key: UInt32, into: Register)
    /// `ct KEY` into a register (key: NFT_CT_*).
    case conntrack(key: UInt32, into: Register)
    /// `ct KEY set` from a register.
    case conntrackSet(key: UInt32, from: Register)
    /// `length` bytes at `offset` of header `base` (NFT_PAYLOAD_*) into a register.
    case payload(base: UInt32, offset: UInt32, length: UInt32, into: Register)
    /// `into = (from & mask) ^ xor`.
    case bitwise(from: Register, into: Register, mask: [UInt8], xor: [UInt8])
    /// Compares a register with constant bytes (op: NFT_CMP_*, e.g. `Expression.CompareOp.neq.kernelValue`).
    case compare(Register, op: UInt32, [UInt8])
    /// A constant into a data register.
    case immediate(Register, [UInt8])
    /// An immediate into the verdict register.
    case verdict(Verdict)
    /// A set or map lookup of the key in `from` (`into`: the map's value, nil for a set).
    case lookup(set: String, from: Register, into: Register?, inverted: Bool)
    case counter
    /// `fib` of the packet (flags: NFTA_FIB_F_*) giving `result` (NFT_FIB_RESULT_*) into a register.
    case fib(flags: UInt32, result: UInt32, into: Register)
    /// `byteorder` (op: NFT_BYTEORDER_*) of `length` bytes in words of `size`.
    case byteorder(from: Register, into: Register, op: UInt32, length: UInt32, size: UInt32)
    /// `dnat`/`snat` (type: NFT_NAT_*) with its registers (nil: not set) and range flags (NF_NAT_RANGE_*).
    case nat(type: UInt32, family: UInt32, addressMin: Register?, addressMax: Register?,
             portMin: Register?, portMax: Register?, flags: UInt32)
    /// `masquerade`, with its range flags (0 when the kernel lists none) and port registers.
    case masquerade(flags: UInt32, portMin: Register?, portMax: Register?)
    /// `redirect`, with its range flags and port registers.
    case redirect(flags: UInt32, portMin: Register?, portMax: Register?)
    /// An xtables match (iptables-nft's `-m NAME`): its revision and its info blob as sent.
    case match(name: String, revision: UInt32, info: [UInt8])
    /// Any other kind, by its name.
    case other(String)

    /// The largest blob taken from an expression: the kernel bounds a register's data at 64
    /// bytes (NFT_DATA_VALUE_MAXLEN) and xtables info blobs at a page; a longer one is refused.
    static let maxBlob = 4096

    /// Reads a parsed libnftnl expression. Every blob is copied by the length libnftnl took
    /// from the attribute (never past it), and one longer than `maxBlob` makes the whole
    /// expression `.other`, like an attribute missing where the kind needs it.
    static func read(_ e: OpaquePointer) -> ExpressionRecord {
        let name = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
        func has(_ attr: Int) -> Bool { nftnl_expr_is_set(e, UInt16(attr)) }
        func u32(_ attr: Int) -> UInt32? { has(attr) ? nftnl_expr_get_u32(e, UInt16(attr)) : nil }
        func reg(_ attr: Int) -> Register? { u32(attr).map { Register(rawValue: $0) } }
        func blob(_ attr: Int) -> [UInt8]? {
            guard has(attr) else { return nil }
            var length: UInt32 = 0
            guard let data = nftnl_expr_get(e, UInt16(attr), &length) else { return nil }
            guard Int(length) <= maxBlob else { return nil }
            return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
        }
        func text(_ attr: Int) -> String? { has(attr) ? nftnl_expr_get_str(e, UInt16(attr)).map { String(cString: $0) } : nil }
        let other = ExpressionRecord.other(name)
        switch name {
        case "counter":
            return .counter
        case "meta":
            guard let key = u32(NFTNL_EXPR_META_KEY), let into = reg(NFTNL_EXPR_META_DREG) else { return other }
            return .meta(key: key, into: into)
        case "ct":
            guard let key = u32(NFTNL_EXPR_CT_KEY), !has(NFTNL_EXPR_CT_DIR) else { return other }
            if let into = reg(NFTNL_EXPR_CT_DREG) { return .conntrack(key: key, into: into) }
            if let from = reg(NFTNL_EXPR_CT_SREG) { return .conntrackSet(key: key, from: from) }
            return other
        case "payload":
            guard !has(NFTNL_EXPR_PAYLOAD_SREG), let base = u32(NFTNL_EXPR_PAYLOAD_BASE), let offset = u32(NFTNL_EXPR_PAYLOAD_OFFSET),
                  let length = u32(NFTNL_EXPR_PAYLOAD_LEN), let into = reg(NFTNL_EXPR_PAYLOAD_DREG) else { return other }
            return .payload(base: base, offset: offset, length: length, into: into)
        case "bitwise":
            // Only the mask-and-xor form (op 0, NFT_BITWISE_MASK_XOR, or no op: older kernels).
            guard u32(NFTNL_EXPR_BITWISE_OP) ?? 0 == 0, let from = reg(NFTNL_EXPR_BITWISE_SREG), let into = reg(NFTNL_EXPR_BITWISE_DREG),
                  let mask = blob(NFTNL_EXPR_BITWISE_MASK), let xor = blob(NFTNL_EXPR_BITWISE_XOR) else { return other }
            return .bitwise(from: from, into: into, mask: mask, xor: xor)
        case "cmp":
            guard let from = reg(NFTNL_EXPR_CMP_SREG), let op = u32(NFTNL_EXPR_CMP_OP), let data = blob(NFTNL_EXPR_CMP_DATA) else { return other }
            return .compare(from, op: op, data)
        case "immediate":
            guard let into = reg(NFTNL_EXPR_IMM_DREG) else { return other }
            if into == .verdict {
                guard let code = u32(NFTNL_EXPR_IMM_VERDICT).map({ Int32(bitPattern: $0) }) else { return other }
                switch code {
                case NF_ACCEPT: return .verdict(.accept)
                case NF_DROP: return .verdict(.drop)
                case NFT_RETURN.rawValue: return .verdict(.return)
                case NFT_CONTINUE.rawValue: return .verdict(.continue)
                case NFT_JUMP.rawValue, NFT_GOTO.rawValue:
                    guard let chain = text(NFTNL_EXPR_IMM_CHAIN) else { return other }
                    return .verdict(code == NFT_JUMP.rawValue ? .jump(chain) : .goto(chain))
                default: return .verdict(.code(code))
                }
            }
            guard let data = blob(NFTNL_EXPR_IMM_DATA) else { return other }
            return .immediate(into, data)
        case "lookup":
            guard let set = text(NFTNL_EXPR_LOOKUP_SET), let from = reg(NFTNL_EXPR_LOOKUP_SREG) else { return other }
            let inverted = (u32(NFTNL_EXPR_LOOKUP_FLAGS) ?? 0) & UInt32(NFT_LOOKUP_F_INV.rawValue) != 0
            return .lookup(set: set, from: from, into: reg(NFTNL_EXPR_LOOKUP_DREG), inverted: inverted)
        case "fib":
            guard let flags = u32(NFTNL_EXPR_FIB_FLAGS), let result = u32(NFTNL_EXPR_FIB_RESULT),
                  let into = reg(NFTNL_EXPR_FIB_DREG) else { return other }
            return .fib(flags: flags, result: result, into: into)
        case "byteorder":
            guard let from = reg(NFTNL_EXPR_BYTEORDER_SREG), let into = reg(NFTNL_EXPR_BYTEORDER_DREG),
                  let op = u32(NFTNL_EXPR_BYTEORDER_OP), let length = u32(NFTNL_EXPR_BYTEORDER_LEN),
                  let size = u32(NFTNL_EXPR_BYTEORDER_SIZE) else { return other }
            return .byteorder(from: from, into: into, op: op, length: length, size: size)
        case "nat":
            guard let type = u32(NFTNL_EXPR_NAT_TYPE), let family = u32(NFTNL_EXPR_NAT_FAMILY) else { return other }
            return .nat(type: type, family: family, addressMin: reg(NFTNL_EXPR_NAT_REG_ADDR_MIN), addressMax: reg(NFTNL_EXPR_NAT_REG_ADDR_MAX),
                        portMin: reg(NFTNL_EXPR_NAT_REG_PROTO_MIN), portMax: reg(NFTNL_EXPR_NAT_REG_PROTO_MAX),
                        flags: u32(NFTNL_EXPR_NAT_FLAGS) ?? 0)
        case "masq":
            return .masquerade(flags: u32(NFTNL_EXPR_MASQ_FLAGS) ?? 0, portMin: reg(NFTNL_EXPR_MASQ_REG_PROTO_MIN),
                               portMax: reg(NFTNL_EXPR_MASQ_REG_PROTO_MAX))
        case "redir":
            return .redirect(flags: u32(NFTNL_EXPR_REDIR_FLAGS) ?? 0, portMin: reg(NFTNL_EXPR_REDIR_REG_PROTO_MIN),
                             portMax: reg(NFTNL_EXPR_REDIR_REG_PROTO_MAX))
        case "match":
            guard let match = text(NFTNL_EXPR_MT_NAME), let revision = u32(NFTNL_EXPR_MT_REV),
                  let info = blob(NFTNL_EXPR_MT_INFO) else { return other }
            return .match(name: match, revision: revision, info: info)
        default:
            return other
        }
    }
}

extension Expression {
    /// What the kernel lists back for this expression: the libnftnl expression `make` builds,
    /// read the way a reply's is (the fake's rules read back through the same code).
    public var record: ExpressionRecord {
        let e = make()
        defer { nftnl_expr_free(e) }
        return ExpressionRecord.read(e)
    }
}
