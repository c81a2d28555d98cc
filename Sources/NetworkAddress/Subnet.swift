/// An IPv4 or IPv6 network: an address and a prefix length. This type only holds and
/// compares; which subnets an input may name (host bits, loopback, /0) is PortForwarding's
/// `Subnet.parse`.
public struct Subnet: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    /// Unchecked: the caller gives a prefix within the family's width.
    public init(network: IPAddress, prefixLength: Int) {
        precondition(prefixLength >= 0 && prefixLength <= network.family.bitCount)
        self.network = network
        self.prefixLength = prefixLength
    }

    public var family: AddressFamily { network.family }
    public var description: String { "\(network)/\(prefixLength)" }

    /// Whether `address` lies in the network. An IPv4 client seen by an IPv6 socket as
    /// ::ffff:a.b.c.d counts as a.b.c.d. Integer masks: the relay asks this per client.
    public func contains(_ address: IPAddress) -> Bool {
        let address = family == .ipv4 ? (address.unmappedIPv4 ?? address) : address
        switch (network.storage, address.storage) {
        case (.v4(let n), .v4(let a)):
            let mask: UInt32 = prefixLength == 0 ? 0 : ~0 << (32 - prefixLength)
            return n & mask == a & mask
        case (.v6(let nh, let nl), .v6(let ah, let al)):
            let highBits = min(prefixLength, 64), lowBits = max(prefixLength - 64, 0)
            let highMask: UInt64 = highBits == 0 ? 0 : ~0 << (64 - highBits)
            let lowMask: UInt64 = lowBits == 0 ? 0 : ~0 << (64 - lowBits)
            return nh & highMask == ah & highMask && nl & lowMask == al & lowMask
        default:
            return false
        }
    }

    /// The last address of the network, in network order (an interval's end in the kernel).
    public var last: [UInt8] {
        var bytes = network.bytes
        for i in 0..<bytes.count {
            let fixedBits = max(0, min(8, prefixLength - i * 8))
            bytes[i] |= UInt8(truncatingIfNeeded: 0xff >> fixedBits)
        }
        return bytes
    }

    /// The first address after the network, or nil when the network reaches the top of the
    /// address space.
    public var next: [UInt8]? {
        var bytes = last
        for i in stride(from: bytes.count - 1, through: 0, by: -1) {
            if bytes[i] == 0xff { bytes[i] = 0; continue }
            bytes[i] += 1
            return bytes
        }
        return nil
    }

    public func overlaps(_ other: Subnet) -> Bool {
        guard family == other.family else { return false }
        let shorter = min(prefixLength, other.prefixLength)
        return Subnet.mask(network.bytes, shorter) == Subnet.mask(other.network.bytes, shorter)
    }

    /// `bytes` with every bit after the first `prefix` cleared.
    public static func mask(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let keep = max(0, min(8, prefix - i * 8))
            return keep == 0 ? 0 : b & UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
    }

    public static func < (a: Subnet, b: Subnet) -> Bool {
        a.network != b.network ? a.network < b.network : a.prefixLength < b.prefixLength
    }
}
