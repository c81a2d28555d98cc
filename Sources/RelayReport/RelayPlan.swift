import NFTRelay
import PortForwarding
import NetworkAddress

/// One port the relay listens on for a published mapping.
public struct RelayPort: Hashable, Sendable {
    /// The mapping's label (`8080/tcp -> 10.0.0.2:80`), which `nftfwd ls` matches on.
    public var mapping: String
    public var proto: ListenerSpec.TransportProtocol
    public var listen: SocketAddress
    public var target: SocketAddress
    /// The mapping's allow-list (empty: everyone), which the relay checks itself: the
    /// kernel's drop rules never see loopback clients.
    public var allow: [Subnet] = []
    /// The PROXY protocol header sent to the target first (nil: none).
    public var proxyProtocol: ProxyProtocolVersion? = nil

    package init(mapping: String, proto: ListenerSpec.TransportProtocol, listen: SocketAddress, target: SocketAddress,
                 allow: [Subnet] = [], proxyProtocol: ProxyProtocolVersion? = nil) {
        self.mapping = mapping; self.proto = proto; self.listen = listen; self.target = target; self.allow = allow
        self.proxyProtocol = proxyProtocol
    }
}

/// Which published mappings the relay serves, and on which sockets.
///
/// The kernel cannot NAT traffic to loopback addresses (without route_localnet) nor between
/// families, so the relay serves exactly what only it can carry:
/// - mappings with no host address: it listens on 0.0.0.0:P (or [::]:P, IPv6-only), which
///   only loopback traffic reaches (DNAT takes the rest first) and which reserves the port
///   against other programs, as docker-proxy does;
/// - mappings bound to 127.0.0.1 or ::1: it listens on that address;
/// - mappings between IPv6 and IPv4: on their host address, or every address of its family;
/// - PROXY-protocol mappings (no DNAT element: every client, remote ones too, reaches the
///   listener): on their host address, or every address of its family.
/// Mappings bound to one non-loopback address are the kernel's alone (output covers the
/// host's own traffic). SCTP is not relayed.
public enum RelayPlan {
    public static func ports(for mappings: [PublishedMapping]) -> [RelayPort] {
        mappings.flatMap { ports(for: $0.mapping) }
    }

    public static func serves(_ mapping: Mapping) -> Bool {
        mapping.proto != .sctp && (mapping.host.address == nil || mapping.isRelayOnly)
    }

    public static func ports(for mapping: Mapping) -> [RelayPort] {
        guard serves(mapping), let targetAddress = mapping.target.address else { return [] }
        let proto: ListenerSpec.TransportProtocol = mapping.proto == .udp ? .udp : .tcp
        let hostAddress = mapping.host.address ?? .unspecified(mapping.hostFamily)
        return mapping.host.ports.ports.map { port in
            RelayPort(mapping: mapping.label, proto: proto, listen: SocketAddress(ip: hostAddress, port: port),
                             target: SocketAddress(ip: targetAddress, port: mapping.targetPort(for: port)),
                             allow: mapping.allow,
                             proxyProtocol: mapping.proxyProtocol.flatMap { ProxyProtocolVersion(rawValue: $0.rawValue) })
        }
    }
}

extension RelayPlan {
    /// Whether the table's `loopback` chain redirects this port's loopback clients to the
    /// relay's redirect sockets (TCP of a same-family mapping on every address or on a
    /// loopback address: the keys of dnat4_any/dnat6_any and loopback4/loopback6), so no
    /// socket of its own is needed; UDP too when the table's chain redirects it (`udp`: not a
    /// table of layout 0.4). The rest (IPv6 to IPv4 and back, SCTP) keeps one.
    public static func isRedirected(_ mapping: Mapping, udp: Bool) -> Bool {
        // PROXY-protocol mappings keep their own listener: it serves remote clients too.
        (mapping.proto == .tcp || (udp && mapping.proto == .udp)) && mapping.proxyProtocol == nil && !mapping.isCrossFamily
            && (mapping.host.address == nil || mapping.isLoopbackOnly)
    }
}
