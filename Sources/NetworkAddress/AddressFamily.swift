/// The IP version of an address, subnet or socket: the one family enum of every target.
/// (The nftables table family `inet`, which holds both, is NFTables' `TableFamily`, not this.)
public enum AddressFamily: String, Sendable, Hashable, Comparable, CaseIterable {
    case ipv4, ipv6

    /// 4 or 16.
    public var byteCount: Int { self == .ipv4 ? 4 : 16 }
    /// 32 or 128.
    public var bitCount: Int { byteCount * 8 }

    /// IPv4 sorts first (listings, `ls`).
    public static func < (a: AddressFamily, b: AddressFamily) -> Bool { a == .ipv4 && b == .ipv6 }
}
