/// The checks `nftfwd doctor` runs, in the order it prints them.
public enum Check: String, Sendable, CaseIterable {
    /// The kernel accepts nftfwd's table: nf_tables with NAT, fib and concatenated maps.
    case natSupport = "nat-support"
    /// The nftfwd table can be read (and is nftfwd's own).
    case table = "table"
    /// net.ipv4.ip_forward while IPv4 mappings go through the kernel.
    case ipv4Forwarding = "ipv4-forwarding"
    /// net.ipv6.conf.all.forwarding while IPv6 mappings go through the kernel.
    case ipv6Forwarding = "ipv6-forwarding"
    /// Another table's forward base chain with policy drop, which drops DNAT'd traffic.
    case forwardDrop = "forward-drop"
    /// route_localnet on any interface: packets to 127.0.0.0/8 from outside get routed.
    case routeLocalnet = "route-localnet"
    /// The userland relay for loopback, wildcard and cross-family mappings.
    case relay = "relay"
    /// Something listens on each TCP target.
    case targets = "targets"
    /// A route of the host leads to each kernel-path target.
    case targetRoute = "target-route"
    /// Hairpin mode on the bridge ports behind which targets live, when bridged traffic
    /// passes through netfilter.
    case hairpin = "hairpin"
}
