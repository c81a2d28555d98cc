import NetworkAddress
import NFTables

/// The fixed shape of an nftfwd table, and how a mapping becomes map elements in it.
///
/// ```
/// table inet nftfwd {
///   map dnat4_any  { type inet_proto . inet_service : ipv4_addr . inet_service; counter }
///   map dnat4_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter }
///   map dnat6_any, dnat6_addr      the same for IPv6
///   map loopback4, loopback6       mappings bound to 127.0.0.0/8 or ::1, and same-family PROXY-protocol
///                                  mappings (key 0.0.0.0 / :: for every address): no rule reads them
///   map relay6to4, relay4to6       IPv6 host side to an IPv4 target and back (key address :: or
///                                  0.0.0.0 for every address): the relay's alone, no rule reads them
///   set masq4      { type ipv4_addr; flags interval }           subnets to masquerade
///   set masq4_keep { type ipv4_addr . ifname; flags interval }  (subnet, interface) left alone
///   set masq6, masq6_keep          the same for IPv6
///   set restrict4_any, allow4_any, refuse4_any, ... (twelve)   allow-lists: see TableLayout+Access
///   chain guard { type filter hook prerouting priority raw
///     iifname != "lo" ip daddr 127.0.0.0/8 counter drop       CVE-2020-8558: loopback from outside
///     iifname != "lo" ip6 daddr ::1 counter drop
///   }
///   chain publish {
///     fib daddr type != local return       only traffic to this host's own addresses
///     ip daddr 127.0.0.0/8 return          never DNAT loopback (CVE-2020-8558 class)
///     ip6 daddr ::1 return
///     ... four allow-list drop rules (TableLayout+Access)
///     meta nfproto ipv4 ct label set 100 dnat ip to meta l4proto . th dport map @dnat4_any
///     meta nfproto ipv4 ct label set 100 dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr
///     ... the same two for IPv6      (the label is set only when the map has the key: see publishRules)
///   }
///   chain prerouting { type nat hook prerouting priority dstnat; jump publish }
///   chain output     { type nat hook output priority -100; jump publish }
///   chain hairpin { type filter hook prerouting priority dstnat + 1
///     ct state new ct label 100 ct status dnat fib daddr . iif oif exists ct label set 101
///   }
///   chain postrouting { type nat hook postrouting priority srcnat
///     ct label 101 masquerade
///     ip saddr . oifname @masq4_keep return
///     ip saddr @masq4 masquerade
///     ... the same two for IPv6
///   }
/// }
/// ```
/// Rules never change when ports are published or subnets masqueraded: only set elements do.
/// Each host port is one element (a range is one element per port, all carrying the range's
/// comment), so a lookup is one hash lookup whatever the number of ports.
///
/// Hairpin: a connection DNAT'd back out of the interface it came in on (a container reaching
/// a port published on the host, served by itself or by a neighbour on the same bridge) would
/// get its reply straight from the target, with the target's address, and drop it. The
/// DNAT rules label the connections they translate; the `hairpin` chain sees the
/// packet after DNAT, asks the routing table whether the new destination is reached through
/// the input interface, and if so labels the connection again; `postrouting` masquerades it.
/// Labels belong to the connection (not the packet), so packet marks and routing are left to
/// others; only the first packet passes the NAT chains, conntrack translates the rest.
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

    public static func mapSpec(_ name: MapName) -> SetSpec {
        func type(_ f: IPAddress.Family) -> DataType { f == .ipv4 ? .ipv4Address : .ipv6Address }
        let key: [DataType] = name.keyedByAddress ? [type(name.hostFamily), .inetProtocol, .inetService] : [.inetProtocol, .inetService]
        return SetSpec(name: name.rawValue, key: key, value: [type(name.targetFamily), .inetService], counters: true)
    }

    /// The sets of outbound masquerade rules.
    public enum MasqueradeSet: String, CaseIterable, Sendable {
        case masq4 = "masq4", masq4Keep = "masq4_keep", masq6 = "masq6", masq6Keep = "masq6_keep"

        public var family: IPAddress.Family { self == .masq4 || self == .masq4Keep ? .ipv4 : .ipv6 }
        /// Whether elements are (subnet . interface) pairs that are not masqueraded.
        public var isKeep: Bool { self == .masq4Keep || self == .masq6Keep }

        public static func subnets(_ family: IPAddress.Family) -> MasqueradeSet { family == .ipv4 ? .masq4 : .masq6 }
        public static func keep(_ family: IPAddress.Family) -> MasqueradeSet { family == .ipv4 ? .masq4Keep : .masq6Keep }
    }

    public static func setSpec(_ name: MasqueradeSet) -> SetSpec {
        let address: DataType = name.family == .ipv4 ? .ipv4Address : .ipv6Address
        return SetSpec(name: name.rawValue, key: name.isKeep ? [address, .interfaceName] : [address], counters: false, interval: true)
    }

    /// Conntrack labels (bits of the connection's 128-bit label set, kept with the connection,
    /// never on packets, so neither routing nor other users of packet marks see them):
    /// `published`: a connection our DNAT rules translated (set by them, in `publish`);
    /// `hairpin`: such a connection, DNAT'd back out of the interface it came in by (set by
    /// `hairpin`, read by `postrouting`, which masquerades it).
    public static let publishedLabel = 100
    public static let hairpinLabel = 101

    /// The 16 bytes a register holds for one label bit.
    static func labelBits(_ bit: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes[bit / 8] = UInt8(1) << UInt8(bit % 8)
        return bytes
    }

    public static func map(for mapping: Mapping) -> MapName {
        let v4 = mapping.hostFamily == .ipv4
        if mapping.isCrossFamily { return v4 ? .relay4to6 : .relay6to4 }
        // A PROXY-protocol mapping of one family is kept beside the loopback ones: the only
        // same-family maps no rule reads (key 0.0.0.0 / :: for every address).
        if mapping.isLoopbackOnly || mapping.proxyProtocol != nil { return v4 ? .loopback4 : .loopback6 }
        if mapping.host.address == nil { return v4 ? .dnat4Any : .dnat6Any }
        return v4 ? .dnat4Addr : .dnat6Addr
    }

    // MARK: - Elements

    /// The comment stored in every element of a mapping: the mapping itself, then the user's text.
    public static func elementComment(for mapping: Mapping) -> String {
        var out = LabelText(capacity: 48 + mapping.comment.utf8.count)
        mapping.writeLabel(into: &out)
        if !mapping.comment.isEmpty {
            out.text(" # ")
            out.text(mapping.comment)
        }
        return out.string
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

    /// `eth0` as a 16-byte, NUL-padded `ifname` key field.
    static func interfaceKey(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8.prefix(15))
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    /// The elements of a masquerade rule: the subnet as a range in masq4/masq6 (a start element
    /// carrying the rule's text, and an end element with the first address after it, unless the
    /// range reaches the top), and, with `outNot`, one (subnet . interface) range in the keep set.
    public static func elements(for rule: MasqueradeRule) -> [(set: MasqueradeSet, element: Element)] {
        let family = rule.subnet.family
        var out: [(MasqueradeSet, Element)] = [(.subnets(family), Element(key: rule.subnet.network.bytes, comment: rule.description))]
        if let next = rule.subnet.next { out.append((.subnets(family), Element(key: next, intervalEnd: true))) }
        if let name = rule.outNot {
            let interface = interfaceKey(name)
            out.append((.keep(family), Element(key: rule.subnet.network.bytes + interface, comment: rule.description,
                                               keyEnd: rule.subnet.last + interface)))
        }
        return out
    }

    // MARK: - Chains and rules

    static let publishChain = "publish"

    public static var chains: [ChainSpec] {
        [
            ChainSpec(name: "guard", base: .init(type: "filter", hook: .prerouting, priority: -300)),
            ChainSpec(name: publishChain),
            ChainSpec(name: "prerouting", base: .init(type: "nat", hook: .prerouting, priority: -100)),
            ChainSpec(name: "output", base: .init(type: "nat", hook: .output, priority: -100)),
            ChainSpec(name: "hairpin", base: .init(type: "filter", hook: .prerouting, priority: -99)),
            ChainSpec(name: "postrouting", base: .init(type: "nat", hook: .postrouting, priority: 100)),
            loopbackChainSpec,
        ]
    }

    /// Host-order bytes of a 32-bit value, as registers hold mark and conntrack values.
    static func hostOrder(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }

    /// `meta nfproto ipv4` (2) / `ipv6` (10): the family check in front of family-specific matches.
    static func nfproto(_ v: UInt8) -> [Expression] { [.meta(.nfproto, into: .r1), .compare(.r1, .eq, [v])] }

    /// ::1, as `ip6 daddr` compares it.
    static let loopback6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]

    public static var rules: [(rule: RuleSpec, what: String)] {
        guardRules + publishRules(labelled: true) + hairpinRules + postroutingRules + redirectRules
    }

    /// The publish chain and its two jumps. Each DNAT rule labels the connection it
    /// translates (`ct label set 100`, between the map lookup and the nat expression, so only
    /// a found key labels, and the lookup stays the only one: element counters count each
    /// connection once). nftfwd 0.1 wrote them without the label (`labelled: false`), which
    /// `TableUpgrade` recognises.
    /// With `restricting` (nftfwd 0.3 on), the allow-list drop rules (`accessRules`) come
    /// after the loopback returns, before any DNAT; `hashed: false` gives 0.3's form of them.
    static func publishRules(labelled: Bool, restricting: Bool = true, hashed: Bool = true) -> [(rule: RuleSpec, what: String)] {
        let label: [Expression] = labelled ? [.immediate(.r3, labelBits(publishedLabel)), .conntrackSet(.labels, from: .r3)] : []
        let labelText = labelled ? "ct label set \(publishedLabel) " : ""
        let th = Expression.payload(.transport, offset: 2, length: 2, into: .r1)
        let v4 = nfproto(2), v6 = nfproto(10)    // NFPROTO_IPV4/6; fib's [2, 0, 0, 0] is RTN_LOCAL
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
        ] + (restricting ? accessRules(hashed: hashed).map { ($0.rule, $0.what) } : []) + [
            // Wildcards first: the common case costs one lookup. The maps never claim the same
            // packet (add and apply refuse overlaps), so the order changes no verdict.
            (RuleSpec(chain: publishChain, v4 + [
                .meta(.l4proto, into: .r1), dport(.reg32(1)),
                .lookup(map: MapName.dnat4Any.rawValue, from: .r1, into: .r1)] + label + [
                .nat(.dnat, family: .ipv4, address: .r1, port: .reg32(1))]),
             "\(labelText)dnat ip to meta l4proto . th dport map @dnat4_any"),
            (RuleSpec(chain: publishChain, v4 + [
                .payload(.network, offset: 16, length: 4, into: .r1), .meta(.l4proto, into: .reg32(1)), dport(.reg32(2)),
                .lookup(map: MapName.dnat4Addr.rawValue, from: .r1, into: .r1)] + label + [
                .nat(.dnat, family: .ipv4, address: .r1, port: .reg32(1))]),
             "\(labelText)dnat ip to ip daddr . meta l4proto . th dport map @dnat4_addr"),
            (RuleSpec(chain: publishChain, v6 + [
                .meta(.l4proto, into: .r1), dport(.reg32(1)),
                .lookup(map: MapName.dnat6Any.rawValue, from: .r1, into: .r1)] + label + [
                .nat(.dnat, family: .ipv6, address: .r1, port: .reg32(4))]),
             "\(labelText)dnat ip6 to meta l4proto . th dport map @dnat6_any"),
            (RuleSpec(chain: publishChain, v6 + [
                .payload(.network, offset: 24, length: 16, into: .r1), .meta(.l4proto, into: .reg32(4)), dport(.reg32(5)),
                .lookup(map: MapName.dnat6Addr.rawValue, from: .r1, into: .r1)] + label + [
                .nat(.dnat, family: .ipv6, address: .r1, port: .reg32(4))]),
             "\(labelText)dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6_addr"),
            (RuleSpec(chain: "prerouting", [.verdict(.jump(publishChain))]), "jump publish"),
            (RuleSpec(chain: "output", [.verdict(.jump(publishChain))]), "jump publish"),
        ]
        return rules.map { (rule: $0.0, what: $0.1) }
    }

    /// A packet for 127.0.0.0/8 or ::1 that did not come from `lo` came from a neighbour that
    /// routes loopback addresses to us: drop it before conntrack and NAT see it, counted.
    static var guardRules: [(rule: RuleSpec, what: String)] {
        let lo = interfaceKey("lo")
        let notLo: [Expression] = [.meta(.iifname, into: .r1), .compare(.r1, .neq, lo)]
        return [
            (RuleSpec(chain: "guard", notLo + nfproto(2) + [.payload(.network, offset: 16, length: 1, into: .r1), .compare(.r1, .eq, [127]),
                                                            .counter, .verdict(.drop)]),
             "iifname != \"lo\" ip daddr 127.0.0.0/8 counter drop"),
            (RuleSpec(chain: "guard", notLo + nfproto(10) + [.payload(.network, offset: 24, length: 16, into: .r1), .compare(.r1, .eq, loopback6),
                                                             .counter, .verdict(.drop)]),
             "iifname != \"lo\" ip6 daddr ::1 counter drop"),
        ]
    }

    /// `ct label N` as a match: the label register masked to the one bit.
    static func hasLabel(_ bit: Int) -> [Expression] {
        [.conntrack(.labels, into: .r1), .bitwise(.r1, mask: labelBits(bit), xor: [UInt8](repeating: 0, count: 16)),
         .compare(.r1, .neq, [UInt8](repeating: 0, count: 16))]
    }

    static var hairpinRules: [(rule: RuleSpec, what: String)] {
        [
            (RuleSpec(chain: "hairpin", [
                .conntrack(.state, into: .r1), .bitwise(.r1, mask: hostOrder(8), xor: hostOrder(0)), .compare(.r1, .neq, hostOrder(0))]
                + hasLabel(publishedLabel) + [
                .conntrack(.status, into: .r1), .bitwise(.r1, mask: hostOrder(0x20), xor: hostOrder(0)), .compare(.r1, .neq, hostOrder(0)),
                .fibDestinationViaInputInterface(into: .r1), .compare(.r1, .eq, hostOrder(1)),
                .immediate(.r1, labelBits(hairpinLabel)), .conntrackSet(.labels, from: .r1)]),
             "ct state new ct label \(publishedLabel) ct status dnat fib daddr . iif oif exists ct label set \(hairpinLabel)"),
        ]
    }

    static var postroutingRules: [(rule: RuleSpec, what: String)] {
        var rules: [(RuleSpec, String)] = [
            (RuleSpec(chain: "postrouting", hasLabel(hairpinLabel) + [.masquerade]), "ct label \(hairpinLabel) masquerade"),
        ]
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let v4 = family == .ipv4
            let saddr = Expression.payload(.network, offset: v4 ? 12 : 8, length: v4 ? 4 : 16, into: .r1)
            let ip = v4 ? "ip" : "ip6"
            rules.append((RuleSpec(chain: "postrouting", nfproto(v4 ? 2 : 10) + [
                saddr, .meta(.oifname, into: .reg32(v4 ? 1 : 4)), .member(set: MasqueradeSet.keep(family).rawValue, from: .r1), .verdict(.return)]),
                "\(ip) saddr . oifname @\(MasqueradeSet.keep(family).rawValue) return"))
            rules.append((RuleSpec(chain: "postrouting", nfproto(v4 ? 2 : 10) + [
                saddr, .member(set: MasqueradeSet.subnets(family).rawValue, from: .r1), .masquerade]),
                "\(ip) saddr @\(MasqueradeSet.subnets(family).rawValue) masquerade"))
        }
        return rules.map { (rule: $0.0, what: $0.1) }
    }

    /// Adds the whole empty table (maps, chains, rules) to a batch.
    func create(in batch: inout Batch) {
        batch.addTable()
        for name in MapName.allCases { batch.addMap(TableLayout.mapSpec(name)) }
        for name in MasqueradeSet.allCases { batch.addSet(TableLayout.setSpec(name)) }
        for set in AccessSet.allCases { batch.addSet(TableLayout.setSpec(set)) }
        for map in RedirectMap.allCases { batch.addMap(TableLayout.setSpec(map)) }
        for chain in TableLayout.chains { batch.addChain(chain) }
        for (rule, what) in TableLayout.rules { batch.addRule(rule, describedAs: what) }
    }
}
