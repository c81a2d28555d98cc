/// The one strict `[ADDR:]PORT` grammar: `PORT`, `A.B.C.D:PORT`, `[IPV6]:PORT`. This splits
/// the address from the port text and parses the address; what a port may be (one port or a
/// range) and the words of each message are the caller's (PortForwarding's `Endpoint`).
public enum HostPort {
    /// Why a text is not `[ADDR:]PORT`, with the part at fault.
    public enum SyntaxError: Error, Sendable, Equatable {
        /// `[` without `]`.
        case missingBracket
        /// What is between the brackets is not IPv6 text (`hasZone`: it has a `%eth0`).
        case notIPv6(Substring, hasZone: Bool)
        /// `[IPV6]` with no `:PORT` after it.
        case noPort(afterIPv6: Substring)
        /// An IPv6 address outside brackets (more than one ':').
        case unbracketedIPv6
        /// `:PORT` with nothing before the ':'.
        case noAddress
        /// What is before the ':' is not a strict IPv4 address.
        case notIPv4(Substring)
    }

    /// The address (nil: no `ADDR:`) and the port text, not yet checked.
    public static func split(_ text: String) -> Result<(address: IPAddress?, port: Substring), SyntaxError> {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.missingBracket) }
            let inner = text[text.index(after: text.startIndex)..<close]
            guard let address = IPAddress.parseV6(String(inner)) else {
                return .failure(.notIPv6(inner, hasZone: inner.contains("%")))
            }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else { return .failure(.noPort(afterIPv6: inner)) }
            return .success((address, rest.dropFirst()))
        }
        let colons = text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: ":") ? 1 : 0) }
        if colons > 1 { return .failure(.unbracketedIPv6) }
        guard colons == 1, let colon = text.firstIndex(of: ":") else { return .success((nil, Substring(text))) }
        let host = text[..<colon]
        guard !host.isEmpty else { return .failure(.noAddress) }
        guard let address = IPAddress.parseV4(String(host)) else { return .failure(.notIPv4(host)) }
        return .success((address, text[text.index(after: colon)...]))
    }

    /// A port 1-65535 in decimal digits, without sign or leading zero; nil otherwise.
    public static func port(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.utf8.count <= 5, text.first != "0",
              text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt16(text) else { return nil }
        return value
    }
}
