#if canImport(Glibc)
import Glibc
#endif

/// The one place where a raw C return value becomes a Swift result: retries on EINTR,
/// turns EAGAIN into `.wouldBlock`, traps on programmer errors (EBADF, EFAULT: a wrong fd or
/// pointer here is a bug, not a runtime condition) and throws the rest as `SyscallError`.
public enum Syscall {
    @inlinable @inline(__always)
    public static func call<T: FixedWidthInteger>(
        _ function: StaticString, retryOnInterrupt: Bool = true, _ body: () -> T
    ) throws(SyscallError) -> IOResult<T> {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let error = Errno.current
            switch error {
            case .interrupted where retryOnInterrupt: continue
            case .wouldBlock: return .wouldBlock
            case .badFileDescriptor, .badAddress:
                fatalError("\(function): \(error) (programming error)")
            default: throw SyscallError("\(function)", error)
            }
        }
    }

    /// For calls that cannot meaningfully return EAGAIN (socket, bind, setsockopt, close...):
    /// EAGAIN, if it ever comes, is thrown like any other error.
    @inlinable @inline(__always)
    public static func value<T: FixedWidthInteger>(_ function: StaticString, _ body: () -> T) throws(SyscallError) -> T {
        switch try call(function, body) {
        case .done(let value): return value
        case .wouldBlock: throw SyscallError("\(function)", .wouldBlock)
        }
    }

    /// For calls on descriptors and paths that come from outside (stdio, inherited fds, files
    /// by path): every error is thrown, EBADF and EAGAIN too, since a closed stdout or a
    /// non-blocking inherited fd is a runtime condition there, not a bug.
    @inlinable @inline(__always)
    public static func checked<T: FixedWidthInteger>(
        _ function: StaticString, retryOnInterrupt: Bool = true, _ body: () -> T
    ) throws(SyscallError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let error = Errno.current
            if error == .interrupted && retryOnInterrupt { continue }
            throw SyscallError("\(function)", error)
        }
    }
}
