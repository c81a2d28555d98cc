import NetworkAddress

/// The PROXY protocol header (HAProxy's specification, versions 1 and 2) that a listener
/// with `ListenerSpec.proxyProtocol` sends to the target before the client's first byte, so
/// the target learns who connected (`source`) and to which address (`destination`) although
/// its peer is the relay.
///
/// Both addresses come from the accepted client socket (getpeername, getsockname), so they
/// are of one family: the client's, whatever the target's family is.
public enum ProxyProtocolVersion: String, Hashable, Sendable, CaseIterable {
    case v1, v2
}

public enum ProxyHeader {
    /// The 12 bytes every version 2 header starts with.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    public static func encode(_ version: ProxyProtocolVersion, source: SocketAddress, destination: SocketAddress) -> [UInt8] {
        switch version {
        case .v1: return v1(source: source, destination: destination)
        case .v2: return v2(source: source, destination: destination)
        }
    }

    /// `PROXY TCP4 192.0.2.1 198.51.100.2 51234 8080\r\n` (at most 107 bytes).
    static func v1(source: SocketAddress, destination: SocketAddress) -> [UInt8] {
        let family = source.family == .ipv4 ? "TCP4" : "TCP6"
        return Array("PROXY \(family) \(source.ip) \(destination.ip) \(source.port) \(destination.port)\r\n".utf8)
    }

    /// Signature, version 2 + PROXY command (0x21), family + STREAM (0x11 IPv4, 0x21 IPv6),
    /// the length of what follows (big-endian), then source and destination addresses and
    /// ports in network order. No TLVs.
    static func v2(source: SocketAddress, destination: SocketAddress) -> [UInt8] {
        let v4 = source.family == .ipv4
        let body = source.ip.bytes + destination.ip.bytes
            + [UInt8(source.port >> 8), UInt8(source.port & 0xff), UInt8(destination.port >> 8), UInt8(destination.port & 0xff)]
        return v2Signature + [0x21, v4 ? 0x11 : 0x21, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }
}
