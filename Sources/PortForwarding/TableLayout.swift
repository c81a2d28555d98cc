import NFTables

/// The fixed shape of an nftfwd table, and how a mapping becomes map elements in it.
///
/// ```
/// table inet nftfwd {
///   map dnat4_any  { type inet_proto . inet_service : ipv4_addr . inet_service; counter }
///   map dnat4_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter }
///   map dnat6_any, dnat6_addr      the same for IPv6
///   map loopback4, loopback6       mappings bound to 127.0.0.0/8 or ::1: recorded, no rule reads them
///   map relay6to4, relay4to6       IPv6 host side to an IPv4 target and back (key address :: or
///                                  0.0.0.0 for every address): the relay's alone, no rule reads them
///   chain publish {
///     fib daddr type != local return       only traffic to this host's own addresses
///     ip daddr 127.0.0.0/8 return          never DNAT loopback (CVE-2020-8558 class)
///     ip6 daddr ::1 return
///     meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4_any
///     meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr
///     ... the same two for IPv6
///   }
///   chain prerouting { type nat hook prerouting priority dstnat; jump publish }
///   chain output     { type nat hook output priority -100; jump publish }
/// }
/// ```
/// Rules never change when ports are published: only map elements do. Each host port is one
/// element (a range is one element per port, all carrying the range's comment), so a lookup
/// is one hash lookup whatever the number of ports.
public struct TableLayout: Sendable {
    public let table: TableSpec

    public init(name: String) {
        table = TableSpec(name: name, family: .inet)
    }

    /// Table names as nft accepts them without quoting.
    public static func validate(tableName name: String) throws(MappingError) {
        let ok = !name.isEmpty && name.count <= 32 && name.first!.isLetter &&
            name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        if !ok { throw .invalid("table name '\(name)': use 1-32 letters, digits, '_' or '-', starting with a letter") }
    }

    // MARK: - Maps

    public enum MapName: String, CaseIterable, Sendable {
        case dnat4Any = "dnat4_any", dnat4Addr = "dnat4_addr"
        case dnat6Any = "dnat6_any", dnat6Addr = "dnat6_addr"
        case loopback4 = "loopback4", loopback6 = "loopback6"
        case relay6to4 = "relay6to4", relay4to6 = "relay4to6"

        /// The family of the host address in the key.
        public var hostFamily: IPAddress.Family {
            switch self {
            case .dnat4Any, .dnat4Addr, .loopback4, .relay4to6: return .ipv4
            default: return .ipv6
            }
        }
        /// The family of the target in the value.
        public var targetFamily: IPAddress.Family {
            switch self {
            case .relay6to4: return .ipv4
            case .relay4to6: return .ipv6
            default: return hostFamily
            }
        }
        /// Whether the key starts with the host address (for a wildcard in a relay map: 0.0.0.0 or ::).
        public var keyedByAddress: Bool { self != .dnat4Any && self != .dnat6Any }
        /// Whether a rule of the table looks this map up (else only the relay reads it).
        public var isKernelPath: Bool { hostFamily == targetFamily && self != .loopback4 && self != .loopback6 }
    }

    public static func mapSpec(_ name: MapName) -> MapSpec {
        func type(_ f: IPAddress.Family) -> DataType { f == .ipv4 ? .ipv4Address : .ipv6Address }
        let key: [DataType] = name.keyedByAddress ? [type(name.hostFamily), .inetProtocol, .inetService] : [.inetProtocol, .inetService]
        return MapSpec(name: name.rawValue, key: key, value: [type(name.targetFamily), .inetService], counters: true)
    }

    public static func map(for mapping: Mapping) -> MapName {
        let v4 = mapping.hostFamily == .ipv4
        if mapping.isCrossFamily { return v4 ? .relay4to6 : .relay6to4 }
        if mapping.isLoopbackOnly { return v4 ? .loopback4 : .loopback6 }
        if mapping.host.address == nil { return v4 ? .dnat4Any : .dnat6Any }
        return v4 ? .dnat4Addr : .dnat6Addr
    }

    // MARK: - Elements

    /// The comment stored in every element of a mapping: the mapping itself, then the user's text.
    public static func elementComment(for mapping: Mapping) -> String {
        mapping.comment.isEmpty ? mapping.label : "\(mapping.label) # \(mapping.comment)"
    }

    /// The key of host port `port` of `mapping` in its map.
    public static func key(for mapping: Mapping, port: UInt16) -> [UInt8] {
        var address = mapping.host.address
        if address == nil && map(for: mapping).keyedByAddress { address = .unspecified(mapping.hostFamily) }
        return key(address: address, proto: mapping.proto, port: port)
    }

    /// `[address .] proto . port`, each field padded to 4 bytes, the port in network order.
    public static func key(address: IPAddress?, proto: Proto, port: UInt16) -> [UInt8] {
        (address?.bytes ?? []) + [proto.number, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0]
    }

    public static func value(for mapping: Mapping, port: UInt16) -> [UInt8] {
        let target = mapping.targetPort(for: port)
        return mapping.target.address!.bytes + [UInt8(target >> 8), UInt8(target & 0xff), 0, 0]
    }

    /// One element per host port.
    public static func elements(for mapping: Mapping) -> [Element] {
        let comment = elementComment(for: mapping)
        return mapping.host.ports.ports.map { port in
            Element(key: key(for: mapping, port: port), value: value(for: mapping, port: port), comment: comment)
        }
    }

    // MARK: - Chains and rules

    static let publishChain = "publish"

    public static var chains: [ChainSpec] {
        [
            ChainSpec(name: publishChain),
            ChainSpec(name: "prerouting", base: .init(type: "nat", hook: .prerouting, priority: -100)),
            ChainSpec(name: "output", base: .init(type: "nat", hook: .output, priority: -100)),
        ]
    }

    public static var rules: [(rule: RuleSpec, what: String)] {
        let th = Expression.payload(.transport, offset: 2, length: 2, into: .r1)
        func nfproto(_ v: UInt8) -> [Expression] { [.meta(.nfproto, into: .r1), .compare(.r1, .eq, [v])] }
        let v4 = nfproto(2), v6 = nfproto(10)    // NFPROTO_IPV4/6; fib's [2, 0, 0, 0] is RTN_LOCAL
        let loopback6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]
        func dport(_ r: Register) -> Expression {
            guard case .payload(let b, let o, let l, _) = th else { fatalError() }
            return .payload(b, offset: o, length: l, into: r)
        }
        let rules: [(RuleSpec, String)] = [
            // One route lookup for every new connection, then only map lookups.
            (RuleSpec(chain: publishChain, [.fibDestinationType(into: .r1), .compare(.r1, .neq, [2, 0, 0, 0]), .verdict(.return)]),
             "fib daddr type != local return"),
            (RuleSpec(chain: publishChain, v4 + [.payload(.network, offset: 16, length: 1, into: .r1), .compare(.r1, .eq, [127]), .verdict(.return)]),
             "ip daddr 127.0.0.0/8 return"),
            (RuleSpec(chain: publishChain, v6 + [.payload(.network, offset: 24, length: 16, into: .r1), .compare(.r1, .eq, loopback6), .verdict(.return)]),
             "ip6 daddr ::1 return"),
            // Wildcards first: the common case costs one lookup. The maps never claim the same
            // packet (add and apply refuse overlaps), so the order changes no verdict.
            (RuleSpec(chain: publishChain, v4 + [
                .meta(.l4proto, into: .r1), dport(.reg32(1)),
                .lookup(map: MapName.dnat4Any.rawValue, from: .r1, into: .r1),
                .nat(.dnat, family: .ipv4, address: .r1, port: .reg32(1))]),
             "dnat ip to meta l4proto . th dport map @dnat4_any"),
            (RuleSpec(chain: publishChain, v4 + [
                .payload(.network, offset: 16, length: 4, into: .r1), .meta(.l4proto, into: .reg32(1)), dport(.reg32(2)),
                .lookup(map: MapName.dnat4Addr.rawValue, from: .r1, into: .r1),
                .nat(.dnat, family: .ipv4, address: .r1, port: .reg32(1))]),
             "dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr"),
            (RuleSpec(chain: publishChain, v6 + [
                .meta(.l4proto, into: .r1), dport(.reg32(1)),
                .lookup(map: MapName.dnat6Any.rawValue, from: .r1, into: .r1),
                .nat(.dnat, family: .ipv6, address: .r1, port: .reg32(4))]),
             "dnat ip6 to meta l4proto . th dport map @dnat6_any"),
            (RuleSpec(chain: publishChain, v6 + [
                .payload(.network, offset: 24, length: 16, into: .r1), .meta(.l4proto, into: .reg32(4)), dport(.reg32(5)),
                .lookup(map: MapName.dnat6Addr.rawValue, from: .r1, into: .r1),
                .nat(.dnat, family: .ipv6, address: .r1, port: .reg32(4))]),
             "dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_addr"),
            (RuleSpec(chain: "prerouting", [.verdict(.jump(publishChain))]), "jump publish"),
            (RuleSpec(chain: "output", [.verdict(.jump(publishChain))]), "jump publish"),
        ]
        return rules.map { (rule: $0.0, what: $0.1) }
    }

    /// Adds the whole empty table (maps, chains, rules) to a batch.
    public func create(in batch: inout Batch) {
        batch.addTable()
        for name in MapName.allCases { batch.addMap(TableLayout.mapSpec(name)) }
        for chain in TableLayout.chains { batch.addChain(chain) }
        for (rule, what) in TableLayout.rules { batch.addRule(rule, describedAs: what) }
    }
}
