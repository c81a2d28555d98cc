#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, stored inline (no heap array) so it hashes, compares and crosses
/// threads as a plain value. The words are host-order numbers whose big-endian bytes are the
/// address (IPv4 127.0.0.1 is 0x7f00_0001), so comparing them compares the bytes.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Storage: Hashable, Sendable {
        case v4(UInt32)
        /// The first and the last eight bytes.
        case v6(UInt64, UInt64)
    }

    public let storage: Storage

    public typealias Family = AddressFamily

    public init(storage: Storage) { self.storage = storage }

    /// From 4 (IPv4) or 16 (IPv6) bytes in network order; any other count is a programming
    /// error (the netlink readers check the width before they convert).
    /// Inlinable, so each caller gets it specialised for its collection: unspecialised, the
    /// generic iteration cost about 28,000 instructions an address (callgrind, in `add`).
    @inlinable
    public init<Bytes: Collection<UInt8>>(bytes: Bytes) {
        let count = bytes.count
        precondition(count == 4 || count == 16, "an IP address has 4 or 16 bytes, not \(count)")
        var high: UInt64 = 0, low: UInt64 = 0, i = 0
        for b in bytes {
            if i < 8 { high = high << 8 | UInt64(b) } else { low = low << 8 | UInt64(b) }
            i += 1
        }
        self.init(storage: count == 4 ? .v4(UInt32(truncatingIfNeeded: high)) : .v6(high, low))
    }

    public var family: Family {
        if case .v4 = storage { return .ipv4 }
        return .ipv6
    }

    /// The address in network order: 4 or 16 bytes (for the netlink and wire encoders).
    public var bytes: [UInt8] {
        switch storage {
        case .v4(let a): return withUnsafeBytes(of: a.bigEndian) { Array($0) }
        case .v6(let h, let l): return withUnsafeBytes(of: h.bigEndian) { Array($0) } + withUnsafeBytes(of: l.bigEndian) { Array($0) }
        }
    }

    /// 0.0.0.0 or ::.
    public static func unspecified(_ family: Family) -> IPAddress {
        family == .ipv4 ? anyIPv4 : anyIPv6
    }
    public static let anyIPv4 = IPAddress(storage: .v4(0))
    public static let anyIPv6 = IPAddress(storage: .v6(0, 0))
    /// 127.0.0.1 and ::1.
    public static let loopbackIPv4 = IPAddress(storage: .v4(0x7f00_0001))
    public static let loopbackIPv6 = IPAddress(storage: .v6(0, 1))

    /// 0.0.0.0 or ::, which as a host address means "every local address".
    public var isUnspecified: Bool {
        switch storage {
        case .v4(let a): return a == 0
        case .v6(let h, let l): return h == 0 && l == 0
        }
    }

    /// 127.0.0.0/8 or ::1: the kernel cannot NAT these without route_localnet.
    public var isLoopback: Bool {
        switch storage {
        case .v4(let a): return a >> 24 == 127
        case .v6(let h, let l): return h == 0 && l == 1
        }
    }

    /// The IPv4 address inside ::ffff:a.b.c.d (how an IPv6 socket shows an IPv4 peer), or nil.
    public var unmappedIPv4: IPAddress? {
        guard case .v6(let h, let l) = storage, h == 0, l >> 32 == 0xffff else { return nil }
        return IPAddress(storage: .v4(UInt32(truncatingIfNeeded: l)))
    }

    /// Why a mapping cannot use this address, or nil: multicast, broadcast, and IPv6 forms
    /// that hide an IPv4 address (::ffff:a.b.c.d, ::a.b.c.d), which would slip past the
    /// loopback checks and never match in an IPv6 map.
    public var unusableReason: String? {
        switch storage {
        case .v4(let a):
            if a >> 24 >= 224 && a >> 24 <= 239 { return "a multicast address" }
            if a == 0xffff_ffff { return "the broadcast address" }
            return nil
        case .v6(let h, let l):
            if h >> 56 == 0xff { return "a multicast address" }
            if h == 0 && l >> 32 == 0xffff { return "an IPv4-mapped IPv6 address (write the IPv4 address itself)" }
            if h == 0 && l >> 32 == 0 && !isUnspecified && !isLoopback { return "an IPv4-compatible IPv6 address (write the IPv4 address itself)" }
            return nil
        }
    }

    /// Canonical text (inet_ntop): `10.0.0.2`, `fd00::2`.
    public var description: String {
        // IPv4 in four decimal parts, as inet_ntop writes them, without its buffer and C
        // string: labels, digests and listings format one per mapping.
        if case .v4(let a) = storage {
            var text: [UInt8] = []
            text.reserveCapacity(15)
            for shift in stride(from: 24, through: 0, by: -8) {
                if shift != 24 { text.append(UInt8(ascii: ".")) }
                let part = UInt8(truncatingIfNeeded: a >> UInt32(shift))
                if part >= 100 { text.append(UInt8(ascii: "0") + part / 100) }
                if part >= 10 { text.append(UInt8(ascii: "0") + part / 10 % 10) }
                text.append(UInt8(ascii: "0") + part % 10)
            }
            return String(decoding: text, as: UTF8.self)
        }
        var buffer = [CChar](repeating: 0, count: 64)
        let af = family == .ipv4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cString: buffer)
    }

    /// Text for `ADDR:PORT` forms: IPv6 in brackets.
    public var bracketed: String { family == .ipv6 ? "[" + description + "]" : description }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a.storage, b.storage) {
        case (.v4(let x), .v4(let y)): return x < y
        case (.v6(let xh, let xl), .v6(let yh, let yl)): return (xh, xl) < (yh, yl)
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        }
    }
}
