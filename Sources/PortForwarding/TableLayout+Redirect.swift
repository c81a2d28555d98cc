import NetworkAddress
import NFTables

/// Loopback clients of published ports, redirected to a few relay sockets (nftfwd 0.4).
///
/// ```
///   map redirect4 { type inet_proto : inet_service }   written by `nftfwd relay` alone:
///   map redirect6 { type inet_proto : inet_service }   the port its redirect socket listens on
///   chain loopback { type nat hook output priority -100
///     ip daddr 127.0.0.0/8 meta l4proto . tcp dport @dnat4_any redirect to :meta l4proto map @redirect4
///     ip daddr 127.0.0.0/8 ip daddr . meta l4proto . tcp dport @loopback4 redirect to :meta l4proto map @redirect4
///     ... the same two for IPv6 (ip6 daddr ::1, dnat6_any, loopback6, redirect6)
///     ... the same four for udp (`udp dport`), after them (layout 0.5)
///   }
/// ```
/// The kernel cannot DNAT 127.0.0.1 to another host without `route_localnet`, but a redirect
/// from 127.0.0.1 to 127.0.0.1 in the output path needs nothing: the relay accepts on one
/// socket and asks the kernel where the client meant to go (SO_ORIGINAL_DST). The lookups
/// are the published maps themselves (membership, the value ignored), so no rule or element
/// is added per port. The port comes from a map the relay fills while it serves: no relay,
/// no element, the lookup fails and the packet goes on as before (a connection refused),
/// so nothing is redirected to a socket nobody holds after a clean stop.
/// The rules are written as nft compiles the text it prints for them, so a table reloaded
/// with `nft -f` reads back the same.
/// A lookup updates the element's counters, so a published port's kernel counters also count
/// the loopback connections redirected to the relay.
/// UDP (layout 0.5) goes the same way to two UDP sockets; the relay finds a new flow's
/// original destination in its conntrack entry (see ARCHITECTURE.md). A 0.4 table has only
/// the four TCP rules: `TableUpgrade` accepts it and the next change appends the UDP ones.
extension TableLayout {
    public enum RedirectMap: String, CaseIterable, Sendable {
        case redirect4 = "redirect4", redirect6 = "redirect6"
        public var family: IPAddress.Family { self == .redirect4 ? .ipv4 : .ipv6 }
        public static func of(_ family: IPAddress.Family) -> RedirectMap { family == .ipv4 ? .redirect4 : .redirect6 }
    }

    static let loopbackChain = "loopback"

    public static func setSpec(_ name: RedirectMap) -> SetSpec {
        SetSpec(name: name.rawValue, key: [.inetProtocol], value: [.inetService], counters: false)
    }

    /// The element the relay writes: `proto` to `port`.
    public static func redirectElement(proto: Proto, port: UInt16) -> Element {
        Element(key: [proto.number], value: [UInt8(port >> 8), UInt8(port & 0xff)])
    }

    static var loopbackChainSpec: ChainSpec {
        ChainSpec(name: loopbackChain, base: .init(type: "nat", hook: .output, priority: -100))
    }

    /// The TCP rules (layout 0.4), then the UDP ones (0.5): appended, so a 0.4 chain is a prefix.
    static var redirectRules: [(rule: RuleSpec, what: String)] { redirectRules(.tcp) + redirectRules(.udp) }

    /// The loopback chain's rules of layout 0.4 (TCP only), which `TableUpgrade` recognises.
    static var redirectRules04: [(rule: RuleSpec, what: String)] { redirectRules(.tcp) }

    static func redirectRules(_ proto: Proto) -> [(rule: RuleSpec, what: String)] {
        let l4: [Expression] = [.meta(.l4proto, into: .r1), .compare(.r1, .eq, [proto.number])]
        let name = proto == .udp ? "udp" : "tcp"
        let dport = { (r: Register) in Expression.payload(.transport, offset: 2, length: 2, into: r) }
        var rules: [(RuleSpec, String)] = []
        for family in [IPAddress.Family.ipv4, .ipv6] {
            let v4 = family == .ipv4
            let loopback: [Expression] = v4
                ? nfproto(2) + [.payload(.network, offset: 16, length: 1, into: .r1), .compare(.r1, .eq, [127])]
                : nfproto(10) + [.payload(.network, offset: 24, length: 16, into: .r1), .compare(.r1, .eq, loopback6)]
            let daddr = v4 ? "ip daddr 127.0.0.0/8" : "ip6 daddr ::1"
            let any: MapName = v4 ? .dnat4Any : .dnat6Any, bound: MapName = v4 ? .loopback4 : .loopback6
            let target = RedirectMap.of(family).rawValue
            let redirect: [Expression] = [.meta(.l4proto, into: .r1), .lookup(map: target, from: .r1, into: .r1), .redirect(port: .r1)]
            let redirectText = "redirect to :meta l4proto map @\(target)"
            rules.append((RuleSpec(chain: loopbackChain, loopback + l4 + [.meta(.l4proto, into: .r1), dport(.reg32(1)),
                                                                           .member(set: any.rawValue, from: .r1)] + redirect),
                          "\(daddr) meta l4proto . \(name) dport @\(any.rawValue) \(redirectText)"))
            let address: Expression = v4 ? .payload(.network, offset: 16, length: 4, into: .r1) : .payload(.network, offset: 24, length: 16, into: .r1)
            rules.append((RuleSpec(chain: loopbackChain, loopback + l4 + [address, .meta(.l4proto, into: .reg32(v4 ? 1 : 4)),
                                                                           dport(.reg32(v4 ? 2 : 5)),
                                                                           .member(set: bound.rawValue, from: .r1)] + redirect),
                          "\(daddr) \(v4 ? "ip" : "ip6") daddr . meta l4proto . \(name) dport @\(bound.rawValue) \(redirectText)"))
        }
        return rules.map { (rule: $0.0, what: $0.1) }
    }
}
