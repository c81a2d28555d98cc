#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Socket calls that need no IP address type (those that do, bind/connect and the
/// socket-address reads, extend this enum in AddressSockets.swift).
/// Every socket the relay creates is non-blocking and close-on-exec.
public enum Sockets {
    /// `socket(2)`; the caller says SOCK_CLOEXEC (and SOCK_NONBLOCK) in `type`.
    public static func open(domain: Int32, type: Int32) throws(SyscallError) -> Int32 {
        try Syscall.checked("socket") { socket(domain, type, 0) }
    }

    /// `setsockopt(2)` with an int value.
    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ label: StaticString) throws(SyscallError) {
        var v = value
        _ = try Syscall.value(label) { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// `setsockopt(2)` with a value of any C type (a timeval, a linger); best effort.
    @discardableResult
    public static func setOption<Value>(_ fd: Int32, _ level: Int32, _ name: Int32, value: Value) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Value>.size)) == 0
    }

    /// `getsockopt(2)` of a value of any C type; nil if the socket refuses.
    public static func option<Value>(_ fd: Int32, _ level: Int32, _ name: Int32, as initial: Value) -> Value? {
        var value = initial
        var length = socklen_t(MemoryLayout<Value>.size)
        return getsockopt(fd, level, name, &value, &length) == 0 ? value : nil
    }

    /// SO_RCVTIMEO and SO_SNDTIMEO, so a blocking socket's calls give up after `milliseconds`.
    public static func setTimeouts(_ fd: Int32, milliseconds: Int) {
        let tv = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setOption(fd, SOL_SOCKET, SO_RCVTIMEO, value: tv)
        setOption(fd, SOL_SOCKET, SO_SNDTIMEO, value: tv)
    }

    /// The pid and uid of a unix socket's peer (SO_PEERCRED); nil if unknown.
    public static func peerCredentials(_ fd: Int32) -> (pid: Int32, uid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (glibc hides the name without _GNU_SOURCE)
        option(fd, SOL_SOCKET, SO_PEERCRED, as: (pid: Int32(0), uid: UInt32(0), gid: UInt32(0))).map { ($0.pid, $0.uid) }
    }

    /// `listen(2)`.
    public static func listen(_ fd: Int32, backlog: Int32) throws(SyscallError) {
        _ = try Syscall.value("listen") { Glibc.listen(fd, backlog) }
    }

    /// `accept4(2)` with SOCK_NONBLOCK|SOCK_CLOEXEC; the peer address is not needed.
    @inlinable
    public static func accept(_ fd: Int32) throws(SyscallError) -> IOResult<Int32> {
        try Syscall.call("accept4") {
            clinux_accept4(fd, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
    }

    /// `accept4(2)` of a listener the caller polls (a small server's): the new socket is
    /// close-on-exec, and blocking unless `nonBlocking`. Every error is thrown (EAGAIN too:
    /// another thread took the connection), nothing traps.
    public static func acceptPolled(_ fd: Int32, nonBlocking: Bool) throws(SyscallError) -> Int32 {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        return try Syscall.checked("accept4") { clinux_accept4(fd, nil, nil, flags) }
    }

    /// `accept4(2)` like `accept`, also returning the client's address.
    @inlinable
    public static func accept(_ fd: Int32, peer: inout sockaddr_storage) throws(SyscallError) -> IOResult<Int32> {
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return try withUnsafeMutablePointer(to: &peer) { pointer throws(SyscallError) -> IOResult<Int32> in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SyscallError) -> IOResult<Int32> in
                try Syscall.call("accept4") {
                    clinux_accept4(fd, address, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
        }
    }

    /// `recv(2)` into raw memory with `flags` (MSG_DONTWAIT for a blocking socket's peek).
    @inlinable
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws(SyscallError) -> IOResult<Int> {
        try Syscall.call("recv") { recv(fd, buffer.baseAddress, buffer.count, flags) }
    }

    /// The pending error of a socket (`getsockopt(SO_ERROR)`), e.g. the outcome of a connect.
    public static func pendingError(_ fd: Int32) -> Errno? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) < 0 { return Errno.current }
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// `shutdown(2)`; errors (ENOTCONN after a reset) change nothing for the caller.
    public static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes with SO_LINGER 0, so the peer gets a RST instead of a FIN.
    public static func reset(_ fd: Int32) {
        setOption(fd, SOL_SOCKET, SO_LINGER, value: linger(l_onoff: 1, l_linger: 0))
        Posix.close(fd)
    }

    /// SO_TYPE of a socket: SOCK_STREAM or SOCK_DGRAM.
    public static func type(_ fd: Int32) throws(SyscallError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try Syscall.value("getsockopt(SO_TYPE)") { getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) }
        return value
    }

    /// Receive and send buffer sizes: SO_RCVBUFFORCE/SO_SNDBUFFORCE when privileged (they
    /// ignore net.core.rmem_max), else the plain options, which the kernel caps. Best effort.
    public static func setBufferSizes(_ fd: Int32, bytes: Int32) {
        if !setOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, value: bytes) { setOption(fd, SOL_SOCKET, SO_RCVBUF, value: bytes) }
        if !setOption(fd, SOL_SOCKET, SO_SNDBUFFORCE, value: bytes) { setOption(fd, SOL_SOCKET, SO_SNDBUF, value: bytes) }
    }

    /// TCP keepalive on with these settings. Best effort: a socket that refuses keeps
    /// relaying without. Set on a listening socket, it is inherited by accepted ones.
    public static func setKeepalive(_ fd: Int32, idle: Int32, interval: Int32, count: Int32) {
        setOption(fd, SOL_SOCKET, SO_KEEPALIVE, value: Int32(1))
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, value: idle)
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, value: interval)
        setOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, value: count)
    }

    public static func setNoDelay(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, value: Int32(1))
    }
}
