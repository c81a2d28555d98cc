/// A network of client addresses a listener accepts (`ListenerSpec.allowedSources`): the
/// relay's side of a mapping's allow-list, for the clients the kernel's rules never see
/// (loopback clients, and those of a listener bound to a loopback address).
public struct SourceNetwork: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// `192.168.1.0/24`, `::1/128`; nil for anything else (the domain checked the text).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])), let prefix = Int(parts[1]),
              prefix >= 0, prefix <= (address.family == .inet ? 32 : 128) else { return nil }
        network = address
        prefixLength = prefix
    }

    public var description: String { "\(network)/\(prefixLength)" }

    /// Whether `address` lies in the network. An IPv4 client seen by an IPv6 socket as
    /// ::ffff:a.b.c.d counts as a.b.c.d.
    public func contains(_ address: IPAddress) -> Bool {
        var bytes = address.bytes
        let mine = network.bytes
        if bytes.count == 16 && mine.count == 4 && bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            bytes = Array(bytes.suffix(4))
        }
        guard bytes.count == mine.count else { return false }
        var left = prefixLength
        for (a, b) in zip(bytes, mine) where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a & mask != b & mask { return false }
            left -= bits
        }
        return true
    }

    /// Whether a client from `address` may use a listener allowing `networks` (empty: anyone).
    static func admits(_ networks: [SourceNetwork], _ address: IPAddress) -> Bool {
        networks.isEmpty || networks.contains { $0.contains(address) }
    }
}

extension IPAddress {
    /// The address in network order: 4 or 16 bytes.
    var bytes: [UInt8] {
        switch storage {
        case .v4(var a): return withUnsafeBytes(of: &a) { Array($0) }
        case .v6(var h, var l): return withUnsafeBytes(of: &h) { Array($0) } + withUnsafeBytes(of: &l) { Array($0) }
        }
    }
}
