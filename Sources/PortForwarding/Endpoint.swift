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
    public static func parse(_ text: String, what: String) throws(MappingError) -> Endpoint {
        let text = text.trimmingSpaces
        guard !text.isEmpty else { throw .invalid("\(what) is empty: write [ADDR:]PORT, e.g. 8080 or 10.0.0.2:80") }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalid("\(what) '\(text)': missing ']' after the IPv6 address, e.g. [fd00::2]:80")
            }
            let inner = String(text[text.index(after: text.startIndex)..<close])
            guard let address = IPAddress.parseV6(inner) else {
                throw .invalid("\(what) '\(text)': '\(inner)' is not an IPv6 address")
            }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else {
                throw .invalid("\(what) '\(text)': a port must follow the address, e.g. [\(inner)]:8080")
            }
            return Endpoint(address: address, ports: try PortRange.parse(rest.dropFirst(), what: what))
        }
        let colons = text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: ":") ? 1 : 0) }
        if colons > 1 {
            throw .invalid("\(what) '\(text)': put an IPv6 address in brackets, e.g. [\(text)]:8080 or [::1]:8080")
        }
        if colons == 1 {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPAddress.parseV4(String(parts[0])) else {
                throw .invalid("\(what) '\(text)': '\(parts[0])' is not an IPv4 address (IPv6 goes in brackets)")
            }
            return Endpoint(address: address, ports: try PortRange.parse(parts[1], what: what))
        }
        return Endpoint(address: nil, ports: try PortRange.parse(Substring(text), what: what))
    }

    public var description: String {
        guard let address else { return ports.description }
        return address.bracketed + ":" + ports.description
    }
}

extension String {
    var trimmingSpaces: String {
        let bytes = utf8
        guard bytes.first == UInt8(ascii: " ") || bytes.last == UInt8(ascii: " ") ||
              bytes.first == 9 || bytes.last == 9 else { return self }
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
