import NFTables

/// The sets behind `--allow`, per family and per kind of host side (every address, `any`, or
/// one address, `addr`):
///
/// ```
/// set restrict4_any  { type inet_proto . inet_service }                     host ports with an allow-list
/// set allow4_any     { type ipv4_addr . inet_proto . inet_service; flags interval }
///                                                                           (source range . proto . port range) allowed
/// set refuse4_any    { type inet_proto . inet_service; counter }            the same keys as restrict4_any
/// set restrict4_addr { type ipv4_addr . inet_proto . inet_service }         keyed by the host address too
/// set allow4_addr    { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags interval }
/// set refuse4_addr   { type ipv4_addr . inet_proto . inet_service; counter }
/// ... the same six for IPv6
/// chain publish {   (after the loopback returns, before the DNAT rules)
///   meta l4proto . th dport @restrict4_any ip saddr . meta l4proto . th dport != @allow4_any
///       meta l4proto . th dport @refuse4_any drop
///   ip daddr . meta l4proto . th dport @restrict4_addr ip saddr . ip daddr . meta l4proto . th dport != @allow4_addr
///       ip daddr . meta l4proto . th dport @refuse4_addr drop
///   ... the same two for IPv6
/// }
/// ```
/// Four rules whatever the number of mappings or networks. A new connection to a port
/// without allow-list costs one hash miss per rule; one to a restricted port also the range
/// lookup (pipapo), whose cost grows with the number of allow elements (pipapo ANDs bitmaps
/// as wide as the set: measured about half the connections/s at 10,000 restricted mappings). `refuse` holds the same keys as `restrict` but is looked up only once the
/// source was refused, so its element counters count exactly the drops, per mapping (the
/// kernel updates an element's counter at every lookup that finds it, so `restrict` itself
/// could not count them). Every element carries the mapping's element comment, so the
/// reader checks it against the mapping like the map elements.
extension TableLayout {
    public struct AccessSet: Hashable, Sendable, CaseIterable, CustomStringConvertible {
        public enum Role: String, Sendable, CaseIterable { case restrict, allow, refuse }
        public let role: Role
        public let family: IPAddress.Family
        /// Keyed by one host address (the `addr` sets) rather than the port alone (`any`).
        public let bound: Bool

        public init(_ role: Role, _ family: IPAddress.Family, bound: Bool) {
            self.role = role; self.family = family; self.bound = bound
        }
        public var name: String { "\(role.rawValue)\(family == .ipv4 ? "4" : "6")_\(bound ? "addr" : "any")" }
        public var description: String { name }

        public static var allCases: [AccessSet] {
            [IPAddress.Family.ipv4, .ipv6].flatMap { family in
                [false, true].flatMap { bound in Role.allCases.map { AccessSet($0, family, bound: bound) } }
            }
        }
        /// The sets a mapping's elements go to, for one role.
        public static func of(_ mapping: Mapping, _ role: Role) -> AccessSet {
            AccessSet(role, mapping.hostFamily, bound: mapping.host.address != nil)
        }
    }

    public static func setSpec(_ set: AccessSet) -> SetSpec {
        let address: DataType = set.family == .ipv4 ? .ipv4Address : .ipv6Address
        let host: [DataType] = set.bound ? [address] : []
        switch set.role {
        case .restrict: return SetSpec(name: set.name, key: host + [.inetProtocol, .inetService], counters: false)
        case .refuse: return SetSpec(name: set.name, key: host + [.inetProtocol, .inetService], counters: true)
        case .allow: return SetSpec(name: set.name, key: [address] + host + [.inetProtocol, .inetService], counters: false, interval: true)
        }
    }

    /// `[host address .] proto . port`: the key of host port `port` in `restrict` and `refuse`.
    public static func accessKey(for mapping: Mapping, port: UInt16) -> [UInt8] {
        key(address: mapping.host.address, proto: mapping.proto, port: port)
    }

    /// The (source range . [host address .] proto . port range) element allowing `subnet`.
    public static func allowElement(for mapping: Mapping, subnet: Subnet) -> Element {
        let host = mapping.host.address?.bytes ?? []
        func port(_ p: UInt16) -> [UInt8] { [UInt8(p >> 8), UInt8(p & 0xff), 0, 0] }
        let proto: [UInt8] = [mapping.proto.number, 0, 0, 0]
        return Element(key: subnet.network.bytes + host + proto + port(mapping.host.ports.first),
                       comment: elementComment(for: mapping),
                       keyEnd: subnet.last + host + proto + port(mapping.host.ports.last))
    }

    /// Every access element of a mapping (none without allow-list), set by set.
    public static func accessElements(for mapping: Mapping) -> [(set: AccessSet, element: Element, what: String)] {
        guard !mapping.allow.isEmpty else { return [] }
        let comment = elementComment(for: mapping)
        var out: [(AccessSet, Element, String)] = []
        for role in [AccessSet.Role.restrict, .refuse] {
            for port in mapping.host.ports.ports {
                out.append((.of(mapping, role), Element(key: accessKey(for: mapping, port: port), comment: comment),
                            "\(role.rawValue) \(port)/\(mapping.proto) of \(mapping.label)"))
            }
        }
        for subnet in mapping.allow {
            out.append((.of(mapping, .allow), allowElement(for: mapping, subnet: subnet), "allow \(subnet) to \(mapping.label)"))
        }
        return out.map { (set: $0.0, element: $0.1, what: $0.2) }
    }

    /// The four drop rules of the publish chain (see above).
    static var accessRules: [(rule: RuleSpec, what: String)] {
        var rules: [(RuleSpec, String)] = []
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let v4 = family == .ipv4
            let width: UInt32 = v4 ? 4 : 16, words: UInt32 = v4 ? 1 : 4
            let ip = v4 ? "ip" : "ip6"
            func saddr(_ r: Register) -> Expression { .payload(.network, offset: v4 ? 12 : 8, length: width, into: r) }
            func daddr(_ r: Register) -> Expression { .payload(.network, offset: v4 ? 16 : 24, length: width, into: r) }
            func dport(_ r: Register) -> Expression { .payload(.transport, offset: 2, length: 2, into: r) }
            // Written as nft compiles the rule text below (see `TableUpgrade.nftReloaded`):
            // a concatenation loads its fields into consecutive 32-bit registers from r1; the
            // family check comes where the first address is loaded; a protocol field of the
            // range key gets nft's (idle) byteorder.
            func protoPort(from word: UInt32, rangeKey: Bool = false) -> [Expression] {
                [.meta(.l4proto, into: .reg32(word))] + (rangeKey ? [.byteorderToNetwork(.reg32(word), length: 1, size: 2)] : [])
                    + [dport(.reg32(word + 1))]
            }
            let familyCheck = nfproto(v4 ? 2 : 10)
            for bound in [false, true] {
                let restrict = AccessSet(.restrict, family, bound: bound).name
                let allow = AccessSet(.allow, family, bound: bound).name
                let refuse = AccessSet(.refuse, family, bound: bound).name
                let hostKey: [Expression] = bound ? [daddr(.r1)] + protoPort(from: words) : protoPort(from: 0)
                let allowKey: [Expression] = [saddr(.r1)] + (bound ? [daddr(.reg32(words))] + protoPort(from: 2 * words, rangeKey: true)
                                                                   : protoPort(from: words, rangeKey: true))
                let hostText = (bound ? "\(ip) daddr . " : "") + "meta l4proto . th dport"
                let allowText = "\(ip) saddr . " + (bound ? "\(ip) daddr . " : "") + "meta l4proto . th dport"
                let head: [Expression] = bound ? familyCheck + hostKey : hostKey
                rules.append((RuleSpec(chain: publishChain, head + [.member(set: restrict, from: .r1)]
                    + (bound ? [] : familyCheck) + allowKey + [.notMember(set: allow, from: .r1)]
                    + hostKey + [.member(set: refuse, from: .r1), .verdict(.drop)]),
                    "\(hostText) @\(restrict) \(allowText) != @\(allow) \(hostText) @\(refuse) drop"))
            }
        }
        return rules.map { (rule: $0.0, what: $0.1) }
    }
}
