#if canImport(Glibc)
import Glibc
#endif

extension IPAddress {
    /// The strict form every nftfwd input uses: dotted quad without leading zeros for IPv4,
    /// RFC 4291 text for IPv6 (no zone, no brackets).
    public init?(_ text: String) {
        guard let parsed = IPAddress.parse(text) else { return nil }
        self = parsed
    }

    /// Strict, as `init?(_:)`; IPv6 if the text has a ':'.
    public static func parse(_ text: String) -> IPAddress? {
        if text.utf8.contains(UInt8(ascii: ":")) { return parseV6(text) }
        return parseV4(text)
    }

    /// Four decimal parts 0-255, no sign, no leading zero, nothing around them.
    public static func parseV4(_ text: String) -> IPAddress? { parseV4(utf8: text.utf8) }

    /// `parseV4` of text given as its UTF-8 bytes (a slice of a longer text, without a copy).
    /// Inlinable, so a caller's byte slice is read without a generic iterator per byte.
    @inlinable
    public static func parseV4<Bytes: Sequence<UInt8>>(utf8 bytes: Bytes) -> IPAddress? {
        var value: UInt32 = 0, part: UInt32 = 0, parts = 0, digits = 0, leadingZero = false
        for b in bytes {
            if b == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                part = 0; digits = 0; leadingZero = false
                continue
            }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), !leadingZero else { return nil }
            if digits == 0 && b == UInt8(ascii: "0") { leadingZero = true }
            part = part * 10 + UInt32(b - UInt8(ascii: "0"))
            digits += 1
            guard part <= 255 else { return nil }
        }
        guard digits > 0, parts == 3 else { return nil }
        return IPAddress(storage: .v4(value << 8 | part))
    }

    /// RFC 4291 text (inet_pton), without a zone (`%eth0`) or brackets.
    public static func parseV6(_ text: String) -> IPAddress? {
        guard !text.utf8.contains(UInt8(ascii: "%")), !text.utf8.contains(UInt8(ascii: "[")) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 16)
        let ok = buffer.withUnsafeMutableBytes { inet_pton(AF_INET6, text, $0.baseAddress) }
        return ok == 1 ? IPAddress(bytes: buffer) : nil
    }

    /// docker-proxy's lenient form (`-host-ip`, `-container-ip`): what Go's net.ParseIP and
    /// inet_pton take, IPv6 also in brackets (`[::1]`). Only the docker-proxy drop-in uses it.
    public init?(dockerProxy text: String) {
        var s = Substring(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        var buffer = [UInt8](repeating: 0, count: 16)
        if s.contains(":") {
            guard buffer.withUnsafeMutableBytes({ inet_pton(AF_INET6, String(s), $0.baseAddress) }) == 1 else { return nil }
            self.init(bytes: buffer)
        } else {
            guard buffer.withUnsafeMutableBytes({ inet_pton(AF_INET, String(s), $0.baseAddress) }) == 1 else { return nil }
            self.init(bytes: buffer.prefix(4))
        }
    }
}
