import CNetfilter
import NetworkAddress

/// An nftables family (the `family` of a table and of its messages): `inet` holds both IP
/// versions; an address's own version is NetworkAddress's `AddressFamily`.
public enum TableFamily: Sendable, CustomStringConvertible {
    case inet, ipv4, ipv6

    /// The single-version family of `family` (ip or ip6), for messages about one IP version.
    public init(_ family: AddressFamily) { self = family == .ipv4 ? .ipv4 : .ipv6 }

    /// NFPROTO_* as the kernel knows it.
    public var kernelValue: UInt32 {
        switch self {
        case .inet: return UInt32(NFPROTO_INET)
        case .ipv4: return UInt32(NFPROTO_IPV4)
        case .ipv6: return UInt32(NFPROTO_IPV6)
        }
    }

    /// The family of an NFPROTO_* value, or nil for the families nftfwd does not use.
    public init?(kernelValue: UInt32) {
        switch kernelValue {
        case UInt32(NFPROTO_INET): self = .inet
        case UInt32(NFPROTO_IPV4): self = .ipv4
        case UInt32(NFPROTO_IPV6): self = .ipv6
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .inet: return "inet"
        case .ipv4: return "ip"
        case .ipv6: return "ip6"
        }
    }
}

/// A netfilter hook a base chain attaches to.
public enum Hook: Sendable {
    case prerouting, input, forward, output, postrouting

    /// NF_INET_* as the kernel knows it.
    public var kernelValue: UInt32 {
        switch self {
        case .prerouting: return UInt32(NF_INET_PRE_ROUTING.rawValue)
        case .input: return UInt32(NF_INET_LOCAL_IN.rawValue)
        case .forward: return UInt32(NF_INET_FORWARD.rawValue)
        case .output: return UInt32(NF_INET_LOCAL_OUT.rawValue)
        case .postrouting: return UInt32(NF_INET_POST_ROUTING.rawValue)
        }
    }
}

/// A table: the unit nftfwd owns and replaces.
public struct TableSpec: Sendable, Equatable {
    public var name: String
    public var family: TableFamily
    public init(name: String, family: TableFamily) { self.name = name; self.family = family }
}

/// A chain; base chains also name their type, hook, priority and policy.
public struct ChainSpec: Sendable, Equatable {
    public struct Base: Sendable, Equatable {
        public var type: String
        public var hook: Hook
        public var priority: Int32
        public var acceptByDefault: Bool
        public init(type: String, hook: Hook, priority: Int32, acceptByDefault: Bool = true) {
            self.type = type; self.hook = hook; self.priority = priority; self.acceptByDefault = acceptByDefault
        }
        /// The policy as the kernel lists it (NF_ACCEPT or NF_DROP).
        public var kernelPolicy: UInt32 { UInt32(acceptByDefault ? NF_ACCEPT : NF_DROP) }
    }
    public var name: String
    public var base: Base?
    public init(name: String, base: Base? = nil) { self.name = name; self.base = base }
}

/// nft's datatype ids, which the kernel stores for userspace and `nft list` reads back.
public enum DataType: UInt32, Sendable {
    case verdict = 0xffffff00
    case ipv4Address = 7
    case ipv6Address = 8
    case inetProtocol = 12
    case inetService = 13
    /// `ifname`: an interface name, 16 bytes (IFNAMSIZ), NUL-padded.
    case interfaceName = 41

    /// Bytes the field takes in a concatenation: each field is padded to 4 bytes.
    public var concatLength: Int {
        switch self {
        case .ipv4Address, .inetProtocol, .inetService: return 4
        case .ipv6Address, .interfaceName: return 16
        case .verdict: return 16
        }
    }

    /// The type id of a concatenation, as nft encodes it: 6 bits per field, first field highest.
    public static func concat(_ fields: [DataType]) -> UInt32 {
        fields.dropFirst().reduce(fields.first?.rawValue ?? 0) { ($0 << 6) | $1.rawValue }
    }
}

/// A named set, or a map when it has a value: key and value are concatenations of `DataType`s.
public struct SetSpec: Sendable, Equatable {
    public var name: String
    public var key: [DataType]
    /// Empty for a plain set.
    public var value: [DataType]
    /// Every element gets a counter (the set carries a counter expression the kernel clones).
    public var counters: Bool
    /// Elements are ranges (`flags interval`). With one key field the kernel keeps them in an
    /// rbtree (a range is a start element and an end element); with a concatenation, in pipapo
    /// (one element with a key and a key end).
    public var interval: Bool
    public init(name: String, key: [DataType], value: [DataType] = [], counters: Bool = true, interval: Bool = false) {
        self.name = name; self.key = key; self.value = value; self.counters = counters; self.interval = interval
    }
    public var isMap: Bool { !value.isEmpty }
    public var keyLength: Int { SetSpec.length(of: key) }
    public var valueLength: Int { SetSpec.length(of: value) }
    /// A lone field takes its own size (nft writes `type inet_proto` with a 1-byte key and
    /// fails to list another), a concatenation 4 bytes per short field.
    static func length(of fields: [DataType]) -> Int {
        if fields.count == 1, fields[0] == .inetProtocol { return 1 }
        if fields.count == 1, fields[0] == .inetService { return 2 }
        return fields.reduce(0) { $0 + $1.concatLength }
    }
    /// NFT_SET_* flags as the kernel stores them.
    public var kernelFlags: UInt32 {
        var flags: UInt32 = 0
        if isMap { flags |= UInt32(NFT_SET_MAP.rawValue) }
        if interval { flags |= UInt32(NFT_SET_INTERVAL.rawValue) }
        if interval && key.count > 1 { flags |= UInt32(NFT_SET_CONCAT.rawValue) }
        return flags
    }
}

/// One element of a map: raw key and value bytes (network byte order, each field padded to 4
/// bytes as the map's concatenation says) and a comment stored in the element's userdata.
public struct Element: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var comment: String?
    /// The last key of a range in a concatenated interval set (pipapo).
    public var keyEnd: [UInt8]?
    /// In a one-field interval set (rbtree): this element closes a range; its key is the first
    /// key after the range.
    public var intervalEnd: Bool
    public init(key: [UInt8], value: [UInt8] = [], comment: String? = nil, keyEnd: [UInt8]? = nil, intervalEnd: Bool = false) {
        self.key = key; self.value = value; self.comment = comment; self.keyEnd = keyEnd; self.intervalEnd = intervalEnd
    }

    /// The userdata TLV nft uses for an element comment: type 0, length, NUL-terminated text.
    var userdata: [UInt8]? {
        guard let comment else { return nil }
        // Written into one array sized up front: building it from `prefix` and two
        // concatenations took 2,400 instructions an element, a tenth of an apply's batch.
        var text = comment
        let length = min(text.utf8.count, Element.maxCommentBytes)
        var out = [UInt8]()
        out.reserveCapacity(length + 3)
        out.append(0)
        out.append(UInt8(length + 1))
        text.withUTF8 { out.append(contentsOf: $0.prefix(length)) }
        out.append(0)
        return out
    }

    /// nft's own limit for comments (NFTNL_UDATA_COMMENT_MAXLEN).
    public static let maxCommentBytes = 127

    static func comment(fromUserdata data: [UInt8]) -> String? {
        var i = 0
        while i + 2 <= data.count {
            let type = data[i], length = Int(data[i + 1])
            guard i + 2 + length <= data.count else { return nil }
            if type == 0 {
                let text = data[(i + 2)..<(i + 2 + length)].prefix { $0 != 0 }
                return String(decoding: text, as: UTF8.self)
            }
            i += 2 + length
        }
        return nil
    }
}

/// A rule: its chain and its expressions, evaluated in order.
public struct RuleSpec: Sendable, Equatable {
    public var chain: String
    public var expressions: [Expression]
    public init(chain: String, _ expressions: [Expression]) { self.chain = chain; self.expressions = expressions }
}
