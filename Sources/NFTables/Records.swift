import CNetfilter

/// What the kernel holds, as read back: plain values, no libnftnl pointers.

/// A chain as listed.
public struct ChainRecord: Sendable, Equatable {
    public var name: String
    public var type: String?
    public var hook: UInt32?
    public var priority: Int32?
    public var policy: UInt32?
    /// The table it belongs to, and that table's family (NFPROTO_*).
    public var table: String = ""
    public var familyValue: UInt32 = 0

    /// The family, when it is one nftfwd models (ip, ip6, inet); nil for arp, bridge, netdev.
    public var family: Family? { Family(kernelValue: familyValue) }
    /// A base chain whose policy drops what no rule accepted.
    public var dropsByDefault: Bool { hook != nil && policy == UInt32(NF_DROP) }
}

/// A set or map as listed.
public struct SetRecord: Sendable, Equatable {
    public var name: String
    public var flags: UInt32
    public var keyType: UInt32
    public var keyLength: UInt32
    public var dataType: UInt32
    public var dataLength: UInt32
    /// Names of the set's expressions (`counter`).
    public var expressions: [String]
}

/// A rule as listed: its chain, handle and the text of each expression.
public struct RuleRecord: Sendable, Equatable {
    public var chain: String
    public var handle: UInt64
    public var expressions: [String]
}

/// An element as listed, with its counter when it has one.
public struct ElementRecord: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    public var comment: String?
    public var packets: UInt64
    public var bytes: UInt64
    /// The range's last key, in a concatenated interval set.
    public var keyEnd: [UInt8] = []
    /// In a one-field interval set: the element closes a range.
    public var intervalEnd: Bool = false

    public init(key: [UInt8], value: [UInt8] = [], comment: String? = nil, packets: UInt64 = 0, bytes: UInt64 = 0,
                keyEnd: [UInt8] = [], intervalEnd: Bool = false) {
        self.key = key; self.value = value; self.comment = comment; self.packets = packets; self.bytes = bytes
        self.keyEnd = keyEnd; self.intervalEnd = intervalEnd
    }
}
