#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, stored by value (no sockaddr pointers) so it can be hashed,
/// compared and sent between threads.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    enum Storage: Hashable, Sendable {
        /// Network byte order, exactly as in `in_addr.s_addr`.
        case v4(UInt32)
        /// The 16 bytes in network order, as two raw 64-bit words.
        case v6(UInt64, UInt64)
    }

    let storage: Storage

    public enum Family: Sendable { case inet, inet6 }

    public var family: Family {
        if case .v4 = storage { return .inet }
        return .inet6
    }

    /// 0.0.0.0 or ::.
    public var isWildcard: Bool {
        switch storage {
        case .v4(let a): return a == 0
        case .v6(let h, let l): return h == 0 && l == 0
        }
    }

    public static let anyIPv4 = IPAddress(storage: .v4(0))
    public static let anyIPv6 = IPAddress(storage: .v6(0, 0))

    init(storage: Storage) { self.storage = storage }

    init(_ address: in_addr) { storage = .v4(address.s_addr) }

    init(_ address: in6_addr) {
        var copy = address
        storage = withUnsafeBytes(of: &copy) {
            .v6($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// Parses dotted IPv4 ("127.0.0.1") or IPv6 ("::1", also in brackets "[::1]").
    public init?(_ text: String) {
        var s = Substring(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if s.contains(":") {
            var a6 = in6_addr()
            guard inet_pton(AF_INET6, String(s), &a6) == 1 else { return nil }
            self.init(a6)
        } else {
            var a4 = in_addr()
            guard inet_pton(AF_INET, String(s), &a4) == 1 else { return nil }
            self.init(a4)
        }
    }

    var inAddr: in_addr? {
        guard case .v4(let a) = storage else { return nil }
        return in_addr(s_addr: a)
    }

    var in6Addr: in6_addr? {
        guard case .v6(let h, let l) = storage else { return nil }
        var a6 = in6_addr()
        withUnsafeMutableBytes(of: &a6) {
            $0.storeBytes(of: h, toByteOffset: 0, as: UInt64.self)
            $0.storeBytes(of: l, toByteOffset: 8, as: UInt64.self)
        }
        return a6
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch storage {
        case .v4:
            var a = inAddr!
            _ = inet_ntop(AF_INET, &a, &buffer, socklen_t(buffer.count))
        case .v6:
            var a = in6Addr!
            _ = inet_ntop(AF_INET6, &a, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
