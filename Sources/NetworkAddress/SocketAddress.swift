/// An IP address and port (plus the IPv6 scope of a link-local peer). The sockaddr
/// conversion is the socket layer's (NFTRelay/System), not this target's.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16
    /// IPv6 scope (interface index) for link-local addresses; 0 otherwise.
    public var scopeID: UInt32

    public init(ip: IPAddress, port: UInt16, scopeID: UInt32 = 0) {
        self.ip = ip
        self.port = port
        self.scopeID = scopeID
    }

    /// A strict address ("127.0.0.1", "::1", "0.0.0.0", "::") with a separate port.
    public init?(_ ip: String, port: UInt16) {
        guard let address = IPAddress(ip) else { return nil }
        self.init(ip: address, port: port)
    }

    /// The strict `ADDR:PORT` form (`HostPort.split`): IPv4 or bracketed IPv6, a port
    /// 1-65535 in decimal digits without sign or leading zero.
    public init?(parsing text: String) {
        guard case .success(let parts) = HostPort.split(text), let ip = parts.address,
              let port = HostPort.port(parts.port) else { return nil }
        self.init(ip: ip, port: port)
    }

    public var family: AddressFamily { ip.family }

    /// "1.2.3.4:80" or "[::1]:80".
    public var description: String { "\(ip.bracketed):\(port)" }
}
