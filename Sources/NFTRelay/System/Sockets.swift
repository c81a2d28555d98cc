#if canImport(Glibc)
import Glibc
#endif
import CLinux
import NetworkAddress

/// Socket calls. Every socket the relay creates is non-blocking and close-on-exec.
enum Sockets {
    enum Kind { case stream, datagram }

    /// `socket(2)` with SOCK_NONBLOCK|SOCK_CLOEXEC.
    static func open(_ family: IPAddress.Family, _ kind: Kind) throws(SyscallError) -> Int32 {
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let type = (kind == .stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue))
            | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try Syscall.value("socket") { socket(domain, type, 0) }
    }

    /// `setsockopt(2)` with an int value.
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: StaticString) throws(SyscallError) {
        var v = value
        _ = try Syscall.value(label) { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// `bind(2)`.
    static func bind(_ fd: Int32, to address: SocketAddress) throws(SyscallError) {
        _ = try Syscall.value("bind") { address.withSockAddr { Glibc.bind(fd, $0, $1) } }
    }

    /// `listen(2)`.
    static func listen(_ fd: Int32, backlog: Int32) throws(SyscallError) {
        _ = try Syscall.value("listen") { Glibc.listen(fd, backlog) }
    }

    /// `accept4(2)` with SOCK_NONBLOCK|SOCK_CLOEXEC; the peer address is not needed.
    static func accept(_ fd: Int32) throws(SyscallError) -> IOResult<Int32> {
        try Syscall.call("accept4") {
            clinux_accept4(fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
    }

    enum ConnectProgress { case connected, inProgress }

    /// Non-blocking `connect(2)`: EINPROGRESS is the normal answer, not an error.
    static func connect(_ fd: Int32, to address: SocketAddress) throws(SyscallError) -> ConnectProgress {
        let rc = address.withSockAddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return .connected }
        let error = Errno.current
        if error == .inProgress || error == .interrupted { return .inProgress }
        throw SyscallError("connect", error)
    }

    /// The pending error of a socket (`getsockopt(SO_ERROR)`), e.g. the outcome of a connect.
    static func pendingError(_ fd: Int32) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) < 0 { return Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// `shutdown(2)`; errors (ENOTCONN after a reset) change nothing for the caller.
    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes with SO_LINGER 0, so the peer gets a RST instead of a FIN.
    static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        Posix.close(fd)
    }

    /// The address of a connected socket's peer (`getpeername(2)`); nil if it has none (any more).
    static func peerAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return result == 0 ? SocketAddress(storage) : nil
    }

    /// The address a socket is bound to (`getsockname(2)`).
    static func localAddress(_ fd: Int32) throws(SyscallError) -> SocketAddress {
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

    /// SO_TYPE of a socket: SOCK_STREAM or SOCK_DGRAM.
    static func type(_ fd: Int32) throws(SyscallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try Syscall.value("getsockopt(SO_TYPE)") { getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) }
        return value
    }

    /// Receive and send buffer sizes: SO_RCVBUFFORCE/SO_SNDBUFFORCE when privileged (they
    /// ignore net.core.rmem_max), else the plain options, which the kernel caps. Best effort.
    static func setBufferSizes(_ fd: Int32, bytes: Int32) {
        var v = bytes
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, size) != 0 { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, size) }
        if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, size) != 0 { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, size) }
    }

    /// Asks for the destination address of each received datagram (IP_PKTINFO for IPv4,
    /// IPV6_RECVPKTINFO for IPv6), so replies can be sent from it.
    static func enablePacketInfo(_ fd: Int32, _ family: IPAddress.Family) throws(SyscallError) {
        _ = try Syscall.value("setsockopt(PKTINFO)") { clinux_enable_pktinfo(fd, family == .ipv4 ? AF_INET : AF_INET6) }
    }

    /// Turns TCP keepalive on with `settings`. Best effort: a socket that refuses keeps
    /// relaying without. Set on a listening socket, it is inherited by accepted ones.
    static func setKeepalive(_ fd: Int32, _ settings: TCPKeepalive) {
        let size = socklen_t(MemoryLayout<Int32>.size)
        var on: Int32 = 1
        var idle = settings.idle, interval = settings.interval, count = settings.count
        _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
    }

    /// `accept4(2)` like `accept`, also returning the client's address.
    static func accept(_ fd: Int32, peer: inout sockaddr_storage) throws(SyscallError) -> IOResult<Int32> {
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try withUnsafeMutablePointer(to: &peer) { pointer throws(SyscallError) -> IOResult<Int32> in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SyscallError) -> IOResult<Int32> in
                try Syscall.call("accept4") {
                    clinux_accept4(fd, address, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
        }
    }

    static func setNoDelay(_ fd: Int32) {
        var on: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
    }
}
