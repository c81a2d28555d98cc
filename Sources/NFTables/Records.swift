import CNetfilter
import NetworkAddress

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
    public var family: TableFamily? { TableFamily(kernelValue: familyValue) }
    /// A base chain whose policy drops what no rule accepted.
    public var dropsByDefault: Bool { hook != nil && policy == UInt32(NF_DROP) }

    public init(name: String, type: String? = nil, hook: UInt32? = nil, priority: Int32? = nil, policy: UInt32? = nil,
                table: String = "", familyValue: UInt32 = 0) {
        self.name = name; self.type = type; self.hook = hook; self.priority = priority; self.policy = policy
        self.table = table; self.familyValue = familyValue
    }
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

    public init(name: String, flags: UInt32, keyType: UInt32, keyLength: UInt32, dataType: UInt32, dataLength: UInt32,
                expressions: [String]) {
        self.name = name; self.flags = flags; self.keyType = keyType; self.keyLength = keyLength
        self.dataType = dataType; self.dataLength = dataLength; self.expressions = expressions
    }
}

/// A rule as listed: its chain, handle and each expression as typed values, read attribute
/// by attribute (what TableReader compares with the rules nftfwd writes, and what checks of
/// other tables' rules match). No text: printing every expression with libnftnl, to compare
/// strings, was a quarter of an `add`'s instructions.
public struct RuleRecord: Sendable, Equatable {
    public var chain: String
    public var handle: UInt64
    public var values: [ExpressionRecord]

    public init(chain: String, handle: UInt64, values: [ExpressionRecord]) {
        self.chain = chain; self.handle = handle; self.values = values
    }
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
