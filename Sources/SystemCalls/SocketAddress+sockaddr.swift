#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

// The one conversion between NetworkAddress's values and the kernel's sockaddr_in/in6: the
// socket layer's alone. in_addr/in6_addr hold network order; IPAddress's words host order.

extension IPAddress {
    public init(_ address: in_addr) { self.init(storage: .v4(UInt32(bigEndian: address.s_addr))) }

    public init(_ address: in6_addr) {
        var copy = address
        self = withUnsafeBytes(of: &copy) {
            IPAddress(storage: .v6(UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                                   UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))
        }
    }

    public var inAddr: in_addr? {
        guard case .v4(let a) = storage else { return nil }
        return in_addr(s_addr: a.bigEndian)
    }

    public var in6Addr: in6_addr? {
        guard case .v6(let h, let l) = storage else { return nil }
        var a6 = in6_addr()
        withUnsafeMutableBytes(of: &a6) {
            $0.storeBytes(of: h.bigEndian, toByteOffset: 0, as: UInt64.self)
            $0.storeBytes(of: l.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return a6
    }
}

extension SocketAddress {
    /// AF_INET or AF_INET6.
    public var posixFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    /// Reads a `sockaddr_in`/`sockaddr_in6` from storage; nil for other families. Public for
    /// the other targets' sockets (getsockname of an inherited listener).
    public init?(_ storage: sockaddr_storage) {
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
    public var storage: (sockaddr_storage, socklen_t) {
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

    /// Calls `body` with this address as a `sockaddr` pointer and length (bind, connect).
    public func withSockAddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        var (storage, length) = self.storage
        return try withUnsafePointer(to: &storage) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
