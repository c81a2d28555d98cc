#if canImport(Glibc)
import Glibc
#endif

/// An IP address and port: the relay's own socket address type, convertible to and from
/// `sockaddr_in`/`sockaddr_in6` only inside the socket layer.
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

    /// Parses an address ("127.0.0.1", "::1", "[::1]", "0.0.0.0", "::") with a separate port.
    public init?(_ ip: String, port: UInt16) {
        guard let address = IPAddress(ip) else { return nil }
        self.init(ip: address, port: port)
    }

    /// Parses "HOST:PORT" where HOST is IPv4 or a bracketed IPv6 address ("[::1]:8080").
    public init?(parsing text: String) {
        // Decimal digits only: UInt16(_:) alone would also take "+8080".
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let digits = text[text.index(after: colon)...]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let port = UInt16(digits) else { return nil }
        let host = String(text[..<colon])
        if host.contains(":") && !host.hasPrefix("[") { return nil }
        self.init(host, port: port)
    }

    public var family: IPAddress.Family { ip.family }

    /// "1.2.3.4:80" or "[::1]:80".
    public var description: String {
        family == .inet ? "\(ip):\(port)" : "[\(ip)]:\(port)"
    }

    // MARK: sockaddr conversion (socket layer only)

    /// AF_INET or AF_INET6.
    var posixFamily: Int32 { family == .inet ? AF_INET : AF_INET6 }

    /// Reads a `sockaddr_in`/`sockaddr_in6` from storage; nil for other families.
    init?(_ storage: sockaddr_storage) {
        var copy = storage
        let parsed: SocketAddress? = withUnsafeBytes(of: &copy) { raw in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.loadUnaligned(as: sockaddr_in.self)
                return SocketAddress(ip: IPAddress(sin.sin_addr), port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
                return SocketAddress(ip: IPAddress(sin6.sin6_addr), port: UInt16(bigEndian: sin6.sin6_port), scopeID: sin6.sin6_scope_id)
            default:
                return nil
            }
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// This address as `sockaddr_storage` plus its meaningful length.
    var storage: (sockaddr_storage, socklen_t) {
        var result = sockaddr_storage()
        var length: socklen_t = 0
        withUnsafeMutableBytes(of: &result) { raw in
            switch ip.storage {
            case .v4:
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = port.bigEndian
                sin.sin_addr = ip.inAddr!
                raw.storeBytes(of: sin, as: sockaddr_in.self)
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            case .v6:
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = port.bigEndian
                sin6.sin6_addr = ip.in6Addr!
                sin6.sin6_scope_id = scopeID
                raw.storeBytes(of: sin6, as: sockaddr_in6.self)
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        }
        return (result, length)
    }

    /// Calls `body` with this address as a `sockaddr` pointer and length.
    func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        var (storage, length) = self.storage
        return try withUnsafePointer(to: &storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
