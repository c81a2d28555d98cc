#if canImport(Glibc)
import Glibc
#endif
import CLinux
import NetworkAddress

/// The socket calls that take or give NetworkAddress's types (sockaddr conversion: SocketAddress+sockaddr.swift).
extension Sockets {
    public enum Kind { case stream, datagram }

    /// `socket(2)` with SOCK_NONBLOCK|SOCK_CLOEXEC.
    public static func open(_ family: IPAddress.Family, _ kind: Kind) throws(SyscallError) -> Int32 {
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let type = (kind == .stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue))
            | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try Syscall.value("socket") { socket(domain, type, 0) }
    }

    /// `bind(2)`.
    public static func bind(_ fd: Int32, to address: SocketAddress) throws(SyscallError) {
        _ = try Syscall.value("bind") { address.withSockAddr { Glibc.bind(fd, $0, $1) } }
    }

    public enum ConnectProgress { case connected, inProgress }

    /// Non-blocking `connect(2)`: EINPROGRESS is the normal answer, not an error.
    public static func connect(_ fd: Int32, to address: SocketAddress) throws(SyscallError) -> ConnectProgress {
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return .connected }
        let error = Errno.current
        if error == .inProgress || error == .interrupted { return .inProgress }
        throw SyscallError("connect", error)
    }

    /// The address of a connected socket's peer (`getpeername(2)`); nil if it has none (any more).
    public static func peerAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return result == 0 ? SocketAddress(storage) : nil
    }

    /// The address a socket is bound to (`getsockname(2)`).
    public static func localAddress(_ fd: Int32) throws(SyscallError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try Syscall.value("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        guard let address = SocketAddress(storage) else { throw SyscallError("getsockname", .invalidArgument) }
        return address
    }

    /// Asks for the destination address of each received datagram (IP_PKTINFO for IPv4,
    /// IPV6_RECVPKTINFO for IPv6), so replies can be sent from it.
    public static func enablePacketInfo(_ fd: Int32, _ family: IPAddress.Family) throws(SyscallError) {
        _ = try Syscall.value("setsockopt(PKTINFO)") { clinux_enable_pktinfo(fd, family == .ipv4 ? AF_INET : AF_INET6) }
    }
}
