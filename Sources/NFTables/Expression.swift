import CNetfilter
import NetworkAddress

/// A register of the nftables VM. Registers 1-4 are 16 bytes wide; the 32-bit registers
/// `reg32(0)...reg32(15)` alias the same storage (reg32(0...3) is register 1, and so on).
public struct Register: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let verdict = Register(rawValue: UInt32(NFT_REG_VERDICT.rawValue))
    public static let r1 = Register(rawValue: UInt32(NFT_REG_1.rawValue))
    public static let r2 = Register(rawValue: UInt32(NFT_REG_2.rawValue))
    public static let r3 = Register(rawValue: UInt32(NFT_REG_3.rawValue))
    /// The n-th 32-bit register (NFT_REG32_00 + n). One that starts a 16-byte register is
    /// named as that register, as the kernel names it when it lists the rule back.
    public static func reg32(_ n: UInt32) -> Register {
        if n % 4 == 0 { return Register(rawValue: UInt32(NFT_REG_1.rawValue) + n / 4) }
        return Register(rawValue: UInt32(NFT_REG32_00.rawValue) + n)
    }
}

/// One expression of a rule. Each case says in its comment which nft syntax produces it.
public enum Expression: Sendable, Equatable {
    public enum MetaKey: Sendable {
        case nfproto, l4proto, iifname, oifname
        public var kernelValue: UInt32 {
            switch self {
            case .nfproto: return NFT_META_NFPROTO.rawValue
            case .l4proto: return NFT_META_L4PROTO.rawValue
            case .iifname: return NFT_META_IIFNAME.rawValue
            case .oifname: return NFT_META_OIFNAME.rawValue
            }
        }
    }
    public enum ConntrackKey: Sendable {
        case state, status, labels
        public var kernelValue: UInt32 {
            switch self {
            case .state: return NFT_CT_STATE.rawValue
            case .status: return NFT_CT_STATUS.rawValue
            case .labels: return NFT_CT_LABELS.rawValue
            }
        }
    }
    public enum PayloadBase: Sendable {
        case network, transport
        var kernelValue: UInt32 {
            self == .network ? NFT_PAYLOAD_NETWORK_HEADER.rawValue : NFT_PAYLOAD_TRANSPORT_HEADER.rawValue
        }
    }
    public enum CompareOp: Sendable {
        case eq, neq
        public var kernelValue: UInt32 { self == .eq ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue }
    }
    public enum NatType: Sendable {
        case snat, dnat
        var kernelValue: UInt32 { self == .snat ? NFT_NAT_SNAT.rawValue : NFT_NAT_DNAT.rawValue }
    }
    public enum Verdict: Sendable, Equatable { case accept, drop, `return`, jump(String) }

    /// `meta nfproto`, `meta l4proto`, `iifname`, `oifname` into a register.
    case meta(MetaKey, into: Register)
    /// `ct state`, `ct status` into a register (4 bytes, host order).
    case conntrack(ConntrackKey, into: Register)
    /// `ct label set ...` from a register (the kernel ORs the bits in: labels are only added).
    case conntrackSet(ConntrackKey, from: Register)
    /// A constant into a register.
    case immediate(Register, [UInt8])
    /// `(reg & mask) ^ xor` in place, over `mask.count` bytes.
    case bitwise(Register, mask: [UInt8], xor: [UInt8])
    /// `ip daddr`, `th dport`, ...: `length` bytes at `offset` from the header `base`.
    case payload(PayloadBase, offset: UInt32, length: UInt32, into: Register)
    /// Compares a register with constant bytes.
    case compare(Register, CompareOp, [UInt8])
    /// `fib daddr type`: the route type of the destination address (RTN_LOCAL = 2, host order).
    case fibDestinationType(into: Register)
    /// `fib daddr . iif oif exists`: whether the route to the destination leaves by the
    /// interface the packet came in on (1 byte: 1 or 0).
    case fibDestinationViaInputInterface(into: Register)
    /// `... map @name`: looks the key in `from` up in a map, its value into `into`.
    case lookup(map: String, from: Register, into: Register)
    /// `... @name`: the rule goes on only if the key in `from` is in the set.
    case member(set: String, from: Register)
    /// `... != @name`: the rule goes on only if the key in `from` is not in the set.
    case notMember(set: String, from: Register)
    /// The byteorder (host to network) nft puts after `meta l4proto` when it is a field of a
    /// range key: with length 1 and size 2 it changes nothing, but a rule must hold it to be
    /// the rule nft compiles from the same text (so a table reloaded with `nft -f` stays the same).
    case byteorderToNetwork(Register, length: UInt32, size: UInt32)
    /// `counter` (packets and bytes of the rule).
    case counter
    /// `masquerade`: source NAT to the address of the outgoing interface.
    case masquerade
    /// `dnat ip to ...` from registers.
    case nat(NatType, family: TableFamily, address: Register, port: Register?)
    /// `redirect to :REG`: destination NAT to the primary address of the input interface
    /// (127.0.0.1 / ::1 for locally generated packets), port from a register.
    case redirect(port: Register)
    /// A verdict: `accept`, `return`, `jump CHAIN`.
    case verdict(Verdict)

    /// Builds the libnftnl expression. The caller owns it (or hands it to a rule, which then does).
    func make(setID: UInt32? = nil) -> OpaquePointer {
        func alloc(_ name: String) -> OpaquePointer { nftnl_expr_alloc(name)! }
        func u32(_ e: OpaquePointer, _ attr: Int, _ v: UInt32) { nftnl_expr_set_u32(e, UInt16(attr), v) }
        switch self {
        case .meta(let key, let reg):
            let e = alloc("meta")
            u32(e, Int(NFTNL_EXPR_META_KEY), key.kernelValue)
            u32(e, Int(NFTNL_EXPR_META_DREG), reg.rawValue)
            return e
        case .conntrack(let key, let reg):
            let e = alloc("ct")
            u32(e, Int(NFTNL_EXPR_CT_KEY), key.kernelValue)
            u32(e, Int(NFTNL_EXPR_CT_DREG), reg.rawValue)
            return e
        case .conntrackSet(let key, let reg):
            let e = alloc("ct")
            u32(e, Int(NFTNL_EXPR_CT_KEY), key.kernelValue)
            u32(e, Int(NFTNL_EXPR_CT_SREG), reg.rawValue)
            return e
        case .immediate(let reg, let data):
            let e = alloc("immediate")
            u32(e, Int(NFTNL_EXPR_IMM_DREG), reg.rawValue)
            data.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(NFTNL_EXPR_IMM_DATA), $0.baseAddress, UInt32($0.count)) }
            return e
        case .bitwise(let reg, let mask, let xor):
            let e = alloc("bitwise")
            u32(e, Int(NFTNL_EXPR_BITWISE_SREG), reg.rawValue)
            u32(e, Int(NFTNL_EXPR_BITWISE_DREG), reg.rawValue)
            u32(e, Int(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            mask.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(NFTNL_EXPR_BITWISE_MASK), $0.baseAddress, UInt32($0.count)) }
            xor.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(NFTNL_EXPR_BITWISE_XOR), $0.baseAddress, UInt32($0.count)) }
            return e
        case .fibDestinationViaInputInterface(let reg):
            let e = alloc("fib")
            u32(e, Int(NFTNL_EXPR_FIB_FLAGS), UInt32(NFTA_FIB_F_DADDR.rawValue | NFTA_FIB_F_IIF.rawValue | NFTA_FIB_F_PRESENT.rawValue))
            u32(e, Int(NFTNL_EXPR_FIB_RESULT), UInt32(NFT_FIB_RESULT_OIF.rawValue))
            u32(e, Int(NFTNL_EXPR_FIB_DREG), reg.rawValue)
            return e
        case .member(let set, let from):
            let e = alloc("lookup")
            u32(e, Int(NFTNL_EXPR_LOOKUP_SREG), from.rawValue)
            nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            if let setID { u32(e, Int(NFTNL_EXPR_LOOKUP_SET_ID), setID) }
            u32(e, Int(NFTNL_EXPR_LOOKUP_FLAGS), 0)
            return e
        case .notMember(let set, let from):
            let e = alloc("lookup")
            u32(e, Int(NFTNL_EXPR_LOOKUP_SREG), from.rawValue)
            nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            if let setID { u32(e, Int(NFTNL_EXPR_LOOKUP_SET_ID), setID) }
            u32(e, Int(NFTNL_EXPR_LOOKUP_FLAGS), NFT_LOOKUP_F_INV.rawValue)
            return e
        case .byteorderToNetwork(let reg, let length, let size):
            let e = alloc("byteorder")
            u32(e, Int(NFTNL_EXPR_BYTEORDER_SREG), reg.rawValue)
            u32(e, Int(NFTNL_EXPR_BYTEORDER_DREG), reg.rawValue)
            u32(e, Int(NFTNL_EXPR_BYTEORDER_OP), UInt32(NFT_BYTEORDER_HTON.rawValue))
            u32(e, Int(NFTNL_EXPR_BYTEORDER_LEN), length)
            u32(e, Int(NFTNL_EXPR_BYTEORDER_SIZE), size)
            return e
        case .counter:
            return alloc("counter")
        case .masquerade:
            return alloc("masq")
        case .payload(let base, let offset, let length, let reg):
            let e = alloc("payload")
            u32(e, Int(NFTNL_EXPR_PAYLOAD_BASE), base.kernelValue)
            u32(e, Int(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            u32(e, Int(NFTNL_EXPR_PAYLOAD_LEN), length)
            u32(e, Int(NFTNL_EXPR_PAYLOAD_DREG), reg.rawValue)
            return e
        case .compare(let reg, let op, let data):
            let e = alloc("cmp")
            u32(e, Int(NFTNL_EXPR_CMP_SREG), reg.rawValue)
            u32(e, Int(NFTNL_EXPR_CMP_OP), op.kernelValue)
            data.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(NFTNL_EXPR_CMP_DATA), $0.baseAddress, UInt32($0.count)) }
            return e
        case .fibDestinationType(let reg):
            let e = alloc("fib")
            u32(e, Int(NFTNL_EXPR_FIB_FLAGS), UInt32(NFTA_FIB_F_DADDR.rawValue))
            u32(e, Int(NFTNL_EXPR_FIB_RESULT), UInt32(NFT_FIB_RESULT_ADDRTYPE.rawValue))
            u32(e, Int(NFTNL_EXPR_FIB_DREG), reg.rawValue)
            return e
        case .lookup(let map, let from, let into):
            let e = alloc("lookup")
            u32(e, Int(NFTNL_EXPR_LOOKUP_SREG), from.rawValue)
            u32(e, Int(NFTNL_EXPR_LOOKUP_DREG), into.rawValue)
            nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), map)
            if let setID { u32(e, Int(NFTNL_EXPR_LOOKUP_SET_ID), setID) }
            u32(e, Int(NFTNL_EXPR_LOOKUP_FLAGS), 0)  // the kernel reports flags 0 back; send what it reports
            return e
        case .redirect(let port):
            let e = alloc("redir")
            // Min and max the same register, as nft writes it (flags: NF_NAT_RANGE_PROTO_SPECIFIED).
            u32(e, Int(NFTNL_EXPR_REDIR_REG_PROTO_MIN), port.rawValue)
            u32(e, Int(NFTNL_EXPR_REDIR_REG_PROTO_MAX), port.rawValue)
            u32(e, Int(NFTNL_EXPR_REDIR_FLAGS), UInt32(NF_NAT_RANGE_PROTO_SPECIFIED))
            return e
        case .nat(let type, let family, let address, let port):
            let e = alloc("nat")
            u32(e, Int(NFTNL_EXPR_NAT_TYPE), type.kernelValue)
            u32(e, Int(NFTNL_EXPR_NAT_FAMILY), family.kernelValue)
            // Min and max name the same register (one address, one port), and the flags say so:
            // the kernel fills both in when absent, so sending them makes the rule read back
            // exactly as written.
            u32(e, Int(NFTNL_EXPR_NAT_REG_ADDR_MIN), address.rawValue)
            u32(e, Int(NFTNL_EXPR_NAT_REG_ADDR_MAX), address.rawValue)
            var flags = UInt32(NF_NAT_RANGE_MAP_IPS)
            if let port {
                u32(e, Int(NFTNL_EXPR_NAT_REG_PROTO_MIN), port.rawValue)
                u32(e, Int(NFTNL_EXPR_NAT_REG_PROTO_MAX), port.rawValue)
                flags |= UInt32(NF_NAT_RANGE_PROTO_SPECIFIED)
            }
            u32(e, Int(NFTNL_EXPR_NAT_FLAGS), flags)
            return e
        case .verdict(let verdict):
            let e = alloc("immediate")
            u32(e, Int(NFTNL_EXPR_IMM_DREG), Register.verdict.rawValue)
            switch verdict {
            case .accept: u32(e, Int(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NF_ACCEPT))
            case .drop: u32(e, Int(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NF_DROP))
            case .return: u32(e, Int(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_RETURN.rawValue))
            case .jump(let chain):
                u32(e, Int(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: NFT_JUMP.rawValue))
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN), chain)
            }
            return e
        }
    }

    /// libnftnl's one-line text of the expression, as the kernel would list it back.
    /// Used to compare what the kernel holds with what we would write.
    public var fingerprint: String {
        let e = make()
        defer { nftnl_expr_free(e) }
        return Expression.text(of: e)
    }

    static func text(of e: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let name = nftnl_expr_get_str(e, UInt16(NFTNL_EXPR_NAME)).map { String(cString: $0) } ?? "?"
        // A counter's values change with traffic; what it is does not.
        if name == "counter" { return name }
        // libnftnl prints compared data as 32-bit words, so a 1-byte and a 4-byte constant
        // would read the same; the length tells them apart.
        var suffix = ""
        if name == "cmp" {
            var length: UInt32 = 0
            _ = nftnl_expr_get(e, UInt16(NFTNL_EXPR_CMP_DATA), &length)
            suffix = " len \(length)"
        }
        _ = nftnl_expr_snprintf(&buffer, buffer.count, e, UInt32(NFTNL_OUTPUT_DEFAULT.rawValue), 0)
        var text = "\(name) " + String(cString: buffer) + suffix
        // An iptables-nft match (xtables compat) says what it matches only in its info blob,
        // which libnftnl does not print: add it in hex, so a reader can tell matches apart.
        if name == "match" {
            var length: UInt32 = 0
            if let info = nftnl_expr_get(e, UInt16(NFTNL_EXPR_MT_INFO), &length) {
                let bytes = UnsafeRawBufferPointer(start: info, count: Int(length))
                text += "info " + bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
            }
        }
        return text
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
