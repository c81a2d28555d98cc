import CNetfilter

/// An nftables address family (the `family` of a table and of its messages).
public enum Family: Sendable, CustomStringConvertible {
    case inet, ipv4, ipv6

    /// NFPROTO_* as the kernel knows it.
    public var kernelValue: UInt32 {
        switch self {
        case .inet: return UInt32(NFPROTO_INET)
        case .ipv4: return UInt32(NFPROTO_IPV4)
        case .ipv6: return UInt32(NFPROTO_IPV6)
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
    public var family: Family
    public init(name: String, family: Family) { self.name = name; self.family = family }
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

    /// Bytes the field takes in a concatenation: each field is padded to 4 bytes.
    public var concatLength: Int {
        switch self {
        case .ipv4Address, .inetProtocol, .inetService: return 4
        case .ipv6Address: return 16
        case .verdict: return 16
        }
    }

    /// The type id of a concatenation, as nft encodes it: 6 bits per field, first field highest.
    public static func concat(_ fields: [DataType]) -> UInt32 {
        fields.dropFirst().reduce(fields.first?.rawValue ?? 0) { ($0 << 6) | $1.rawValue }
    }
}

/// A named map (a set with data): its key and value are concatenations of `DataType`s.
public struct MapSpec: Sendable, Equatable {
    public var name: String
    public var key: [DataType]
    public var value: [DataType]
    /// Every element gets a counter (the set carries a counter expression the kernel clones).
    public var counters: Bool
    public init(name: String, key: [DataType], value: [DataType], counters: Bool = true) {
        self.name = name; self.key = key; self.value = value; self.counters = counters
    }
    public var keyLength: Int { key.reduce(0) { $0 + $1.concatLength } }
    public var valueLength: Int { value.reduce(0) { $0 + $1.concatLength } }
}

/// One element of a map: raw key and value bytes (network byte order, each field padded to 4
/// bytes as the map's concatenation says) and a comment stored in the element's userdata.
public struct Element: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var comment: String?
    public init(key: [UInt8], value: [UInt8], comment: String? = nil) {
        self.key = key; self.value = value; self.comment = comment
    }

    /// The userdata TLV nft uses for an element comment: type 0, length, NUL-terminated text.
    var userdata: [UInt8]? {
        guard let comment else { return nil }
        let text = Array(comment.utf8.prefix(Element.maxCommentBytes)) + [0]
        return [0, UInt8(text.count)] + text
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
