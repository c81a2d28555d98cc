#if canImport(Glibc)
import Glibc
#endif

/// A POSIX error number, shared by the netlink layer and the relay so there is one type for
/// it: named constants instead of raw `Int32`s, the symbol (`EEXIST`) and strerror's words.
///
/// `description` is for people and searching: `File exists (EEXIST)`. `lowercasedMessage` is
/// the Go style (`address already in use`) docker-proxy's users see in dockerd's errors.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(errno) }

    public static let permission = Errno(EPERM)
    public static let noEntry = Errno(ENOENT)
    public static let interrupted = Errno(EINTR)
    public static let badFileDescriptor = Errno(EBADF)
    public static let wouldBlock = Errno(EAGAIN)
    public static let noMemory = Errno(ENOMEM)
    public static let badAddress = Errno(EFAULT)
    public static let busy = Errno(EBUSY)
    public static let exists = Errno(EEXIST)
    public static let invalidArgument = Errno(EINVAL)
    public static let tooManyOpenFilesInSystem = Errno(ENFILE)
    public static let tooManyOpenFiles = Errno(EMFILE)
    public static let brokenPipe = Errno(EPIPE)
    public static let protocolError = Errno(EPROTO)
    public static let addressInUse = Errno(EADDRINUSE)
    public static let connectionAborted = Errno(ECONNABORTED)
    public static let connectionReset = Errno(ECONNRESET)
    public static let noBufferSpace = Errno(ENOBUFS)
    public static let notConnected = Errno(ENOTCONN)
    public static let timedOut = Errno(ETIMEDOUT)
    public static let connectionRefused = Errno(ECONNREFUSED)
    public static let inProgress = Errno(EINPROGRESS)
    public static let restart = Errno(ERESTART)

    /// The symbolic name (`EEXIST`), or `errno N` for one this table does not know.
    public var name: String { Self.names[rawValue] ?? "errno \(rawValue)" }

    /// strerror's words for it: `File exists`.
    public var message: String {
        guard let text = strerror(rawValue) else { return "Unknown error \(rawValue)" }
        return String(cString: text)
    }

    /// The words with a lower-case first letter, as Go prints syscall errors.
    public var lowercasedMessage: String {
        let s = message
        guard let first = s.first else { return s }
        return first.lowercased() + s.dropFirst()
    }

    public var description: String { "\(message) (\(name))" }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", EBADF: "EBADF",
        EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
        ENOSPC: "ENOSPC", EPIPE: "EPIPE", ERANGE: "ERANGE", E2BIG: "E2BIG", ENOTDIR: "ENOTDIR",
        ELOOP: "ELOOP", EPROTO: "EPROTO", EMSGSIZE: "EMSGSIZE", EPROTONOSUPPORT: "EPROTONOSUPPORT",
        EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE",
        EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETUNREACH: "ENETUNREACH", ECONNABORTED: "ECONNABORTED",
        ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS", ENOTCONN: "ENOTCONN", ETIMEDOUT: "ETIMEDOUT",
        ECONNREFUSED: "ECONNREFUSED", EHOSTUNREACH: "EHOSTUNREACH", EINPROGRESS: "EINPROGRESS",
        ENOTEMPTY: "ENOTEMPTY", ERESTART: "ERESTART", EISDIR: "EISDIR", EROFS: "EROFS",
    ]
}
