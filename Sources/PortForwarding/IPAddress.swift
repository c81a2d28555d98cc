#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address, parsed strictly: dotted quad without leading zeros for IPv4,
/// RFC 4291 text for IPv6 (no zone, no brackets here).
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    public enum Family: String, Sendable, Comparable {
        case ipv4, ipv6
        public static func < (a: Family, b: Family) -> Bool { a == .ipv4 && b == .ipv6 }
    }

    public var family: Family {
        if case .v4 = self { return .ipv4 }
        return .ipv6
    }

    public var bytes: [UInt8] {
        switch self { case .v4(let b), .v6(let b): return b }
    }

    /// 127.0.0.0/8 or ::1: the kernel cannot NAT these without route_localnet.
    public var isLoopback: Bool {
        switch self {
        case .v4(let b): return b[0] == 127
        case .v6(let b): return b == [UInt8](repeating: 0, count: 15) + [1]
        }
    }

    /// Why a mapping cannot use this address, or nil: multicast, broadcast, and IPv6 forms
    /// that hide an IPv4 address (::ffff:a.b.c.d, ::a.b.c.d), which would slip past the
    /// loopback checks and never match in an IPv6 map.
    public var unusableReason: String? {
        let b = bytes
        switch self {
        case .v4:
            if b[0] >= 224 && b[0] <= 239 { return "a multicast address" }
            if b == [255, 255, 255, 255] { return "the broadcast address" }
            return nil
        case .v6:
            if b[0] == 0xff { return "a multicast address" }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return "an IPv4-mapped IPv6 address (write the IPv4 address itself)" }
            if b[0..<12].allSatisfy({ $0 == 0 }) && !isUnspecified && !isLoopback { return "an IPv4-compatible IPv6 address (write the IPv4 address itself)" }
            return nil
        }
    }

    /// 0.0.0.0 or ::.
    public static func unspecified(_ family: Family) -> IPAddress {
        family == .ipv4 ? .v4([0, 0, 0, 0]) : .v6([UInt8](repeating: 0, count: 16))
    }

    /// 0.0.0.0 or ::, which as a host address means "every local address".
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }

    public static func parse(_ text: String) -> IPAddress? {
        if text.utf8.contains(UInt8(ascii: ":")) { return parseV6(text) }
        return parseV4(text)
    }

    static func parseV4(_ text: String) -> IPAddress? {
        var out: [UInt8] = []
        out.reserveCapacity(4)
        var value = 0, digits = 0, leadingZero = false
        for b in text.utf8 {
            if b == UInt8(ascii: ".") {
                guard digits > 0, out.count < 3 else { return nil }
                out.append(UInt8(value))
                value = 0; digits = 0; leadingZero = false
                continue
            }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), !leadingZero else { return nil }
            if digits == 0 && b == UInt8(ascii: "0") { leadingZero = true }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return nil }
        }
        guard digits > 0, out.count == 3 else { return nil }
        out.append(UInt8(value))
        return .v4(out)
    }

    static func parseV6(_ text: String) -> IPAddress? {
        guard !text.utf8.contains(UInt8(ascii: "%")), !text.utf8.contains(UInt8(ascii: "[")) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 16)
        let ok = buffer.withUnsafeMutableBytes { inet_pton(AF_INET6, text, $0.baseAddress) }
        return ok == 1 ? .v6(buffer) : nil
    }

    /// Canonical text (inet_ntop): `10.0.0.2`, `fd00::2`.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let af = family == .ipv4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        return String(cString: buffer)
    }

    /// Text for `ADDR:PORT` forms: IPv6 in brackets.
    public var bracketed: String { family == .ipv6 ? "[" + description + "]" : description }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family < b.family }
        return a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
