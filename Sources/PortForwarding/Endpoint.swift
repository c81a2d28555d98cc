import NetworkAddress

/// One side of a mapping: an optional address and a port range.
///
/// Text forms: `8080`, `8000-8099`, `192.0.2.10:8080`, `[fd00::1]:8080`. On the host side no
/// address (or 0.0.0.0 / [::]) means every local address of the family.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress?
    public var ports: PortRange

    public init(address: IPAddress?, ports: PortRange) {
        self.address = address
        self.ports = ports
    }

    /// Parses `[ADDR:]PORT[-PORT]`; `what` names the field ("host", "target") in messages.
    ///
    /// Accepted, exactly: `PORT`, `PORT-PORT`, `A.B.C.D:PORT[-PORT]`, `[IPV6]:PORT[-PORT]`.
    /// A port is 1-65535 in decimal digits, without sign or leading zero; IPv4 is four decimal
    /// parts 0-255 without leading zeros; IPv6 is RFC 4291 text without a zone (`%eth0`).
    /// Nothing is trimmed: spaces, `+8080`, `08080`, `0x1f90`, `8080-`, `:8080` and
    /// `8080/tcp` (the protocol has its own option) are refused, each with what to write.
    public static func parse(_ text: String, what: String) throws(MappingError) -> Endpoint {
        if let simple = simple(text) { return simple }
        return try parseFully(text, what: what)
    }

    /// The whole grammar, and every refusal's words (see `parse`).
    static func parseFully(_ text: String, what: String) throws(MappingError) -> Endpoint {
        var shown: String { Untrusted.escape(text) }   // for messages only: not on the success path
        guard !text.isEmpty else { throw .invalid("\(what) is empty: write [ADDR:]PORT, e.g. 8080 or 10.0.0.2:80") }
        if text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7f }),
           text.unicodeScalars.contains(where: { $0.properties.isWhitespace || Untrusted.isUnsafe($0) }) {
            throw .invalid("\(what) '\(shown)' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80")
        }
        if let slash = text.lastIndex(of: "/"), Proto(rawValue: text[text.index(after: slash)...].lowercased()) != nil {
            throw .invalid("\(what) '\(shown)': give the protocol with --proto (\"proto\" in a file), e.g. \(text[..<slash]) --proto \(text[text.index(after: slash)...].lowercased())")
        }
        switch HostPort.split(text) {
        case .success(let parts):
            return Endpoint(address: parts.address, ports: try PortRange.parse(parts.port, what: what))
        case .failure(.missingBracket):
            throw .invalid("\(what) '\(shown)': missing ']' after the IPv6 address, e.g. [fd00::2]:80")
        case .failure(.notIPv6(let inner, let hasZone)):
            let why = hasZone ? " (zone ids such as %eth0 are not accepted)" : ""
            throw .invalid("\(what) '\(shown)': '\(Untrusted.escape(String(inner)))' is not an IPv6 address\(why)")
        case .failure(.noPort(let inner)):
            throw .invalid("\(what) '\(shown)': a port must follow the address, e.g. [\(Untrusted.escape(String(inner)))]:8080")
        case .failure(.unbracketedIPv6):
            throw .invalid("\(what) '\(shown)': put an IPv6 address in brackets, e.g. [\(shown)]:8080 or [::1]:8080")
        case .failure(.noAddress):
            throw .invalid("\(what) '\(shown)': an address must come before ':', e.g. 10.0.0.2\(shown); or leave out ':' for every address")
        case .failure(.notIPv4(let host)):
            throw .invalid("\(what) '\(shown)': '\(Untrusted.escape(String(host)))' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)")
        }
    }

    /// The forms a large file is made of, `PORT[-PORT]` and `A.B.C.D:PORT[-PORT]`, parsed on
    /// the bytes alone: nil for anything else and for anything wrong, which the full parse
    /// then reads and words. Only text of digits, '.', ':' and '-' is taken, in which every
    /// character is one byte, so it reads exactly as the full parse would (no space, control,
    /// '/', bracket or second ':' is possible there).
    /// Read on the string's contiguous UTF-8 buffer (`withUTF8` copies only a bridged or
    /// lazily built string): walking `String.Index`es and `PortRange.parse`'s error-ready path
    /// cost 1,800 instructions an endpoint, 8% of a 10,000-mapping apply (callgrind).
    static func simple(_ text: String) -> Endpoint? {
        var text = text
        return text.withUTF8 { bytes -> Endpoint? in
            var colon = -1
            for i in 0..<bytes.count {
                let b = bytes[i]
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") { continue }
                guard b == UInt8(ascii: ":"), colon < 0 else { return nil }
                colon = i
            }
            guard colon >= 0 else {
                guard let ports = PortRange.simple(bytes[...]) else { return nil }
                return Endpoint(address: nil, ports: ports)
            }
            guard colon > 0, let address = IPAddress.parseV4(utf8: bytes[..<colon]),
                  let ports = PortRange.simple(bytes[(colon + 1)...]) else { return nil }
            return Endpoint(address: address, ports: ports)
        }
    }

    public var description: String {
        guard let address else { return ports.description }
        return address.bracketed + ":" + ports.description
    }
}

extension String {
    package var trimmingSpaces: String {
        let bytes = utf8
        guard bytes.first == UInt8(ascii: " ") || bytes.last == UInt8(ascii: " ") ||
              bytes.first == 9 || bytes.last == 9 else { return self }
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
