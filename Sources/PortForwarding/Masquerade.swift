import NetworkAddress

/// Which subnets an input may name: CIDR form with no host bits set (the type itself is
/// NetworkAddress's).
extension Subnet {
    /// `10.88.0.0/24`, `fd88::/64`. Host bits must be zero (a typo there would silently
    /// cover another network), and the prefix must leave something out (/0 would masquerade
    /// everything the host sends and forwards).
    public static func parse(_ text: String) throws(MappingError) -> Subnet {
        try parse(text, loopback: false)
    }

    /// With `loopback`, a loopback network is accepted (an allow-list may name the host's own
    /// loopback clients; only masquerade has no use for them).
    package static func parse(_ text: String, loopback: Bool) throws(MappingError) -> Subnet {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let shown = Untrusted.escape(text)
        // The prefix in plain decimal digits, as for ports: no sign, no leading zero.
        guard parts.count == 2, let address = IPAddress.parse(String(parts[0])),
              !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              parts[1].count <= 3, parts[1] == "0" || !parts[1].hasPrefix("0"), let prefix = Int(parts[1]) else {
            throw .invalid("subnet '\(shown)': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64")
        }
        return try checked(address, prefix: prefix, loopback: loopback, shown: shown)
    }

    /// The checks of `parse` on an address and prefix already apart (`shown`: the input as
    /// messages quote it).
    package static func checked(_ address: IPAddress, prefix: Int, loopback: Bool, shown: String) throws(MappingError) -> Subnet {
        let bits = address.family.bitCount
        guard prefix >= 1 && prefix <= bits else {
            throw .invalid("subnet '\(shown)': the prefix length must be 1-\(bits)")
        }
        if let why = address.unusableReason { throw .invalid("subnet '\(shown)': \(address) is \(why)") }
        if !loopback && (address.isLoopback || (address.family == .ipv4 && address.bytes[0] == 127)) {
            throw .invalid("subnet '\(shown)': loopback traffic never leaves the host, so it is never masqueraded")
        }
        let network = Subnet.mask(address.bytes, prefix)
        guard network == address.bytes else {
            let fixed = Subnet(network: IPAddress(bytes: network), prefixLength: prefix)
            throw .invalid("subnet '\(shown)' has host bits set: did you mean \(fixed)?")
        }
        return Subnet(network: address, prefixLength: prefix)
    }

}

/// Outbound masquerade for a target subnet: traffic from `subnet` leaving by any interface
/// but `outNot` gets the outgoing interface's address as source, as Docker's
/// `-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE` does.
public struct MasqueradeRule: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let subnet: Subnet
    /// The interface (usually the containers' bridge) whose traffic keeps its source.
    public let outNot: String?

    public static func parse(subnet: String, outNot: String?) throws(MappingError) -> MasqueradeRule {
        let parsed = try Subnet.parse(subnet)
        if let name = outNot { try validate(interfaceName: name) }
        return MasqueradeRule(subnet: parsed, outNot: outNot)
    }

    public init(subnet: Subnet, outNot: String?) {
        self.subnet = subnet
        self.outNot = outNot
    }

    /// What the kernel accepts as an interface name: 1-15 bytes, no '/', no whitespace.
    static func validate(interfaceName name: String) throws(MappingError) {
        let ok = !name.isEmpty && name.utf8.count <= 15 && name != "." && name != ".." &&
            name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
        if !ok { throw .invalid("interface name '\(Untrusted.escape(name))': use 1-15 printable characters without '/', ':' or spaces (e.g. br0)") }
    }

    /// `10.88.0.0/24` or `10.88.0.0/24 out-not br0`: also the text stored in the kernel.
    public var description: String { outNot.map { "\(subnet) out-not \($0)" } ?? subnet.description }

    /// The inverse of `description`.
    static func parseLabel(_ text: String) -> MasqueradeRule? {
        let words = text.split(separator: " ", omittingEmptySubsequences: false)
        if words.count == 1 { return try? parse(subnet: text, outNot: nil) }
        guard words.count == 3, words[1] == "out-not" else { return nil }
        return try? parse(subnet: String(words[0]), outNot: String(words[2]))
    }

    /// Refuses overlapping subnets: the kernel's range sets cannot hold them, and two rules for
    /// one source address would leave the outcome to the reader's guess.
    public static func checkNoOverlaps(_ rules: [MasqueradeRule]) throws(MappingError) {
        let sorted = rules.sorted()
        for (i, a) in sorted.enumerated() {
            for b in sorted[(i + 1)...] where a.subnet.overlaps(b.subnet) {
                if a.subnet == b.subnet && a == b { throw .invalid("masquerade \(a) is listed twice") }
                throw .invalid("masquerade \(b) overlaps masquerade \(a): give each source address one rule")
            }
        }
    }

    public static func < (a: MasqueradeRule, b: MasqueradeRule) -> Bool {
        a.subnet != b.subnet ? a.subnet < b.subnet : (a.outNot ?? "") < (b.outNot ?? "")
    }
}
