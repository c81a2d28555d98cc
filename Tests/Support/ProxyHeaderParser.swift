#if canImport(Glibc)
import Glibc
#endif

/// A PROXY protocol reader written from HAProxy's specification for the tests, apart from
/// the relay's encoder, so a test checks the relay against the spec and not against itself.
/// It reads exactly the header from `next` (one byte at a time for v1, as a consumer that
/// must not swallow the client's first bytes would), and returns nil for anything malformed.
public struct ParsedProxyHeader: Equatable, Sendable, CustomStringConvertible {
    public var version: Int
    /// "TCP4"/"TCP6" for v1; "AF_INET"/"AF_INET6" for v2.
    public var family: String
    public var sourceAddress: String
    public var destinationAddress: String
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    public var description: String { "v\(version) \(family) \(sourceAddress):\(sourcePort) -> \(destinationAddress):\(destinationPort)" }

    /// Reads one header; `read(n)` must return exactly n bytes or fewer at the end.
    public static func read(_ read: (Int) -> [UInt8]) -> ParsedProxyHeader? {
        let first = read(1)
        guard first.count == 1 else { return nil }
        if first[0] == UInt8(ascii: "P") { return readV1(first, read) }
        if first[0] == 0x0D { return readV2(first, read) }
        return nil
    }

    static func readV1(_ start: [UInt8], _ read: (Int) -> [UInt8]) -> ParsedProxyHeader? {
        var line = start
        while line.count < 107 && !(line.count >= 2 && line.suffix(2) == [13, 10]) {
            let b = read(1)
            guard b.count == 1 else { return nil }
            line += b
        }
        guard line.suffix(2) == [13, 10] else { return nil }
        let fields = String(decoding: line.dropLast(2), as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 6, fields[0] == "PROXY", fields[1] == "TCP4" || fields[1] == "TCP6",
              let sp = UInt16(fields[4]), let dp = UInt16(fields[5]) else { return nil }
        return ParsedProxyHeader(version: 1, family: fields[1], sourceAddress: fields[2], destinationAddress: fields[3], sourcePort: sp, destinationPort: dp)
    }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    static func readV2(_ start: [UInt8], _ read: (Int) -> [UInt8]) -> ParsedProxyHeader? {
        let head = start + read(15)
        guard head.count == 16, Array(head[0..<12]) == signature, head[12] == 0x21 else { return nil }
        let length = Int(head[14]) << 8 | Int(head[15])
        let body = read(length)
        guard body.count == length else { return nil }
        let size: Int
        switch head[13] {
        case 0x11: size = 4
        case 0x21: size = 16
        default: return nil
        }
        guard length >= 2 * size + 4 else { return nil }
        func text(_ bytes: ArraySlice<UInt8>) -> String {
            if size == 4 { return bytes.map(String.init).joined(separator: ".") }
            // inet_ntop's canonical text, as getsockname's addresses print in the tests.
            var raw = Array(bytes)
            var out = [CChar](repeating: 0, count: 64)
            _ = inet_ntop(AF_INET6, &raw, &out, 64)
            return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let port = { (i: Int) in UInt16(body[i]) << 8 | UInt16(body[i + 1]) }
        return ParsedProxyHeader(version: 2, family: size == 4 ? "AF_INET" : "AF_INET6",
                                 sourceAddress: text(body[0..<size]), destinationAddress: text(body[size..<2 * size]),
                                 sourcePort: port(2 * size), destinationPort: port(2 * size + 2))
    }
}
