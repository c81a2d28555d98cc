import NetworkAddress
import NFTables

/// The sets behind `--allow`, per family and per kind of host side (every address, `any`, or
/// one address, `addr`):
///
/// ```
/// set restrict4_any  { type inet_proto . inet_service }                     host ports with an allow-list
/// set allow4_any     { type ipv4_addr . inet_proto . inet_service; flags interval }
///                    (source range . proto . port range): the allow-list as given, read back, never looked up
/// set match4_any_8 .. match4_any_32 { type ipv4_addr . inet_proto . inet_service }
///                    (source network masked to /8, /16, /24, /32 . proto . port): what the rule looks up
/// set refuse4_any    { type inet_proto . inet_service; counter }            the same keys as restrict4_any
/// ... the same keyed by the host address too (`_addr`: ipv4_addr . ipv4_addr . ...), and for
/// IPv6 (levels /8, /16, ... /128)
/// chain publish {   (after the loopback returns, before the DNAT rules)
///   meta l4proto . th dport @restrict4_any
///       ip saddr & 255.0.0.0 . meta l4proto . th dport != @match4_any_8 ... ip saddr . meta l4proto . th dport != @match4_any_32
///       meta l4proto . th dport @refuse4_any drop
///   ... the same for `_addr` and for IPv6
/// }
/// ```
/// Four rules whatever the number of mappings or networks, and only hash lookups: a new
/// connection to a port without allow-list costs one miss per rule; one to a restricted
/// port at most one lookup per prefix level (4 for IPv4, 16 for IPv6), whatever the number
/// of elements. (Layout 0.3 looked `allow` up instead: a pipapo range set, whose lookup ANDs
/// bitmaps as wide as the set, measured about half the connections/s at 10,000 restricted
/// mappings.) A network is written into the level at or above its prefix, expanded: a /22
/// is four /24 elements, at most 128 per network (the levels are 8 bits apart).
/// `refuse` holds the same keys as `restrict` but is looked up only once the source was
/// refused, so its element counters count exactly the drops, per mapping (the kernel updates
/// an element's counter at every lookup that finds it, so `restrict` itself could not count
/// them). Every element carries the mapping's element comment, so the reader checks it
/// against the mapping like the map elements.
extension TableLayout {
    public struct AccessSet: Hashable, Sendable, CaseIterable, CustomStringConvertible {
        public enum Role: String, Sendable, CaseIterable { case restrict, allow, refuse, match }
        public let role: Role
        public let family: IPAddress.Family
        /// Keyed by one host address (the `addr` sets) rather than the port alone (`any`).
        public let bound: Bool
        /// The prefix level of a `match` set (0 for the others).
        public let level: Int

        public init(_ role: Role, _ family: IPAddress.Family, bound: Bool, level: Int = 0) {
            self.role = role; self.family = family; self.bound = bound; self.level = role == .match ? level : 0
        }
        public var name: String {
            "\(role.rawValue)\(family == .ipv4 ? "4" : "6")_\(bound ? "addr" : "any")" + (role == .match ? "_\(level)" : "")
        }
        public var description: String { name }

        /// The prefix levels of the `match` sets: 8 bits apart, so a network expands to at
        /// most 128 elements of the level above it.
        public static func levels(_ family: IPAddress.Family) -> [Int] {
            Array(stride(from: 8, through: family == .ipv4 ? 32 : 128, by: 8))
        }
        /// The level a network of `prefix` bits is written into.
        public static func level(for prefix: Int) -> Int { (prefix + 7) / 8 * 8 }

        public static var allCases: [AccessSet] {
            [IPAddress.Family.ipv4, .ipv6].flatMap { family in
                [false, true].flatMap { bound in
                    [Role.restrict, .allow, .refuse].map { AccessSet($0, family, bound: bound) }
                        + levels(family).map { AccessSet(.match, family, bound: bound, level: $0) }
                }
            }
        }
        /// The `match` sets, added by layout 0.4.
        public static var matchSets: [AccessSet] { allCases.filter { $0.role == .match } }
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
        case .match: return SetSpec(name: set.name, key: [address] + host + [.inetProtocol, .inetService], counters: false)
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

    /// The `match` elements that stand for `subnet` in front of host `[address .] proto`
    /// and each of `ports`: the networks of the next level that make it up, each with every port.
    static func matchElements(network: [UInt8], prefix: Int, host: [UInt8], proto: UInt8, ports: ClosedRange<UInt16>,
                              comment: String) -> (level: Int, elements: [Element]) {
        let level = AccessSet.level(for: prefix)
        var out: [Element] = []
        let count = 1 << (level - prefix)
        for n in 0..<count {
            // The n-th /level network inside the subnet: n's bits go right below the prefix.
            var bytes = Subnet.mask(network, prefix)
            for bit in 0..<(level - prefix) where n & (1 << bit) != 0 {
                let position = level - 1 - bit
                bytes[position / 8] |= UInt8(0x80 >> (position % 8))
            }
            for port in ports {
                out.append(Element(key: bytes + host + [proto, 0, 0, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0], comment: comment))
            }
        }
        return (level, out)
    }

    static func matchElements(for mapping: Mapping, subnet: Subnet) -> (set: AccessSet, elements: [Element]) {
        let (level, elements) = matchElements(network: subnet.network.bytes, prefix: subnet.prefixLength,
                                              host: mapping.host.address?.bytes ?? [], proto: mapping.proto.number,
                                              ports: mapping.host.ports.first...mapping.host.ports.last,
                                              comment: elementComment(for: mapping))
        return (AccessSet(.match, mapping.hostFamily, bound: mapping.host.address != nil, level: level), elements)
    }

    /// How many `match` elements an allow-list costs a mapping of `ports` host ports.
    static func matchCount(_ subnets: [Subnet], ports: Int) -> Int {
        subnets.reduce(0) { $0 + (1 << (AccessSet.level(for: $1.prefixLength) - $1.prefixLength)) } * ports
    }

    /// The `match` elements nftfwd 0.3 did not write, from its `allow` elements: what the
    /// upgrade to 0.4 adds (nil for an element nftfwd does not write).
    static func matchElements(fromAllow record: ElementRecord, in set: AccessSet) -> (set: AccessSet, elements: [Element])? {
        let width = set.family == .ipv4 ? 4 : 16, host = set.bound ? width : 0
        guard record.key.count == width + host + 8, record.keyEnd.count == record.key.count else { return nil }
        let start = Array(record.key.prefix(width)), last = Array(record.keyEnd.prefix(width))
        guard let prefix = (1...(width * 8)).first(where: { p in
            Subnet.mask(start, p) == start && Subnet(network: IPAddress(bytes: start), prefixLength: p).last == last
        }) else { return nil }
        let rest = Array(record.key.dropFirst(width)), restEnd = Array(record.keyEnd.dropFirst(width))
        let first = UInt16(rest[host + 4]) << 8 | UInt16(rest[host + 5])
        let lastPort = UInt16(restEnd[host + 4]) << 8 | UInt16(restEnd[host + 5])
        guard first <= lastPort else { return nil }
        let (level, elements) = matchElements(network: start, prefix: prefix, host: Array(rest.prefix(host)), proto: rest[host],
                                              ports: first...lastPort, comment: record.comment ?? "")
        return (AccessSet(.match, set.family, bound: set.bound, level: level), elements)
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
            let (set, elements) = matchElements(for: mapping, subnet: subnet)
            for element in elements { out.append((set, element, "match \(subnet) to \(mapping.label)")) }
        }
        return out.map { (set: $0.0, element: $0.1, what: $0.2) }
    }

    /// The four drop rules of the publish chain (see above); `hashed: false` gives layout
    /// 0.3's, which looked the source up in the `allow` range sets.
    static func accessRules(hashed: Bool = true) -> [(rule: RuleSpec, what: String)] {
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
                var source: [Expression] = allowKey + [.notMember(set: allow, from: .r1)]
                var sourceText = "\(allowText) != @\(allow)"
                if hashed {
                    source = []; var texts: [String] = []
                    for level in AccessSet.levels(family) {
                        let set = AccessSet(.match, family, bound: bound, level: level).name
                        let full = level == Int(width) * 8
                        let mask = Subnet.mask([UInt8](repeating: 0xff, count: Int(width)), level)
                        source += [saddr(.r1)] + (full ? [] : [.bitwise(.r1, mask: mask, xor: [UInt8](repeating: 0, count: Int(width)))])
                            + (bound ? [daddr(.reg32(words))] + protoPort(from: 2 * words) : protoPort(from: words))
                            + [.notMember(set: set, from: .r1)]
                        let masked = full ? "\(ip) saddr" : "\(ip) saddr & \(IPAddress(bytes: mask))"
                        texts.append("\(masked) . " + (bound ? "\(ip) daddr . " : "") + "meta l4proto . th dport != @\(set)")
                    }
                    sourceText = texts.joined(separator: " ")
                }
                rules.append((RuleSpec(chain: publishChain, head + [.member(set: restrict, from: .r1)]
                    + (bound ? [] : familyCheck) + source
                    + hostKey + [.member(set: refuse, from: .r1), .verdict(.drop)]),
                    "\(hostText) @\(restrict) \(sourceText) \(hostText) @\(refuse) drop"))
            }
        }
        return rules.map { (rule: $0.0, what: $0.1) }
    }
}
