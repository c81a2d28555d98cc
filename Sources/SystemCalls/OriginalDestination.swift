#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

extension Sockets {
    /// SO_ORIGINAL_DST (IPv4) / IP6T_SO_ORIGINAL_DST (IPv6), both 80: where an accepted client
    /// was going before the kernel's NAT redirected it to us (conntrack's original tuple).
    /// nil when the connection was not NATed (a client that connected to the socket itself).
    public static func originalDestination(_ fd: Int32, family: IPAddress.Family) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let level = family == .ipv4 ? Int32(SOL_IP) : Int32(IPPROTO_IPV6)
        guard getsockopt(fd, level, 80, &storage, &length) == 0 else { return nil }
        return SocketAddress(storage)
    }
}
