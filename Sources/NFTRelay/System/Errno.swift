#if canImport(Glibc)
import Glibc
#endif

/// A POSIX error number with readable names, so code compares `.connectionReset` instead of
/// raw `Int32`s. Only the numbers the relay reacts to are named; any other value still works.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: errno) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    public static let badAddress = Errno(rawValue: EFAULT)
    public static let invalidArgument = Errno(rawValue: EINVAL)
    public static let tooManyOpenFiles = Errno(rawValue: EMFILE)
    public static let tooManyOpenFilesInSystem = Errno(rawValue: ENFILE)
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    public static let noMemory = Errno(rawValue: ENOMEM)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let connectionAborted = Errno(rawValue: ECONNABORTED)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let notConnected = Errno(rawValue: ENOTCONN)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let timedOut = Errno(rawValue: ETIMEDOUT)
    public static let protocolError = Errno(rawValue: EPROTO)

    /// The C library's text for this number, lower-cased like Go's syscall errors
    /// ("address already in use"), since docker-proxy users expect those messages.
    public var description: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        let s = String(cString: text)
        guard let first = s.first else { return s }
        return first.lowercased() + s.dropFirst()
    }
}
