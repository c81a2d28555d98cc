#if canImport(Glibc)
import Glibc
#endif

/// Unix-domain sockets by path (the relay's status and takeover sockets): the sockaddr_un is
/// built here, so no caller lays one out by hand.
extension Sockets {
    /// Whether `path` fits a sockaddr_un (107 bytes and the terminator).
    public static func fitsUnixAddress(_ path: String) -> Bool {
        path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    }

    /// `bind(2)` to a unix socket path (ENAMETOOLONG if it does not fit).
    public static func bind(_ fd: Int32, unixPath path: String) throws(SyscallError) {
        _ = try withUnixAddress(path, "bind") { Glibc.bind(fd, $0, $1) }
    }

    /// Blocking `connect(2)` to a unix socket path; EINTR thrown unless `retryOnInterrupt`.
    public static func connect(_ fd: Int32, unixPath path: String, retryOnInterrupt: Bool = false) throws(SyscallError) {
        _ = try withUnixAddress(path, "connect", retryOnInterrupt: retryOnInterrupt) { Glibc.connect(fd, $0, $1) }
    }

    /// Blocking `connect(2)` to a name in the abstract namespace (no file; what systemd's
    /// NOTIFY_SOCKET names with a leading "@"): the name without a terminator.
    public static func connect(_ fd: Int32, abstractName name: String) throws(SyscallError) {
        _ = try withUnixAddress("\0" + name, "connect", terminated: false) { Glibc.connect(fd, $0, $1) }
    }

    /// `bind(2)` to an address the caller laid out (a sockaddr_in or sockaddr_in6).
    public static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, length: socklen_t) throws(SyscallError) {
        _ = try Syscall.checked("bind") { Glibc.bind(fd, address, length) }
    }

    private static func withUnixAddress(
        _ path: String, _ function: StaticString, retryOnInterrupt: Bool = false, terminated: Bool = true,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) throws(SyscallError) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SyscallError("\(function)", Errno(ENAMETOOLONG)) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (terminated ? 1 : 0))
        return try Syscall.checked(function, retryOnInterrupt: retryOnInterrupt) {
            withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
        }
    }
}
