#if canImport(Glibc)
import Glibc
#endif

/// An errno value with its symbolic name, as the kernel or libc reported it.
///
/// Printed as `File exists (EEXIST)`: the words for people, the symbol for searching.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(errno) }

    public static let noEntry = Errno(ENOENT)
    public static let exists = Errno(EEXIST)
    public static let busy = Errno(EBUSY)
    public static let restart = Errno(ERESTART)
    public static let noBufferSpace = Errno(ENOBUFS)
    public static let permission = Errno(EPERM)
    public static let wouldBlock = Errno(EAGAIN)
    public static let interrupted = Errno(EINTR)

    /// The symbolic name (`EEXIST`), or `errno N` for one this table does not know.
    public var name: String {
        Self.names[rawValue] ?? "errno \(rawValue)"
    }

    /// strerror's words for it.
    public var message: String {
        guard let text = strerror(rawValue) else { return "Unknown error" }
        return String(cString: text)
    }

    public var description: String { "\(message) (\(name))" }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
        ENOSPC: "ENOSPC", ERANGE: "ERANGE", E2BIG: "E2BIG", ENOTDIR: "ENOTDIR", ELOOP: "ELOOP",
        EMSGSIZE: "EMSGSIZE", EPROTONOSUPPORT: "EPROTONOSUPPORT", EOPNOTSUPP: "EOPNOTSUPP",
        EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE", ENOBUFS: "ENOBUFS",
        ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED", ENOTEMPTY: "ENOTEMPTY",
        ERESTART: "ERESTART", ENOTCONN: "ENOTCONN",
    ]
}
