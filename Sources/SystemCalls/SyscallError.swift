@_exported import SystemErrno

/// A failed system call: which one, and the errno it left.
public struct SyscallError: Error, Hashable, Sendable, CustomStringConvertible {
    public let function: String
    public let errno: Errno
    public init(_ function: String, _ errno: Errno) {
        self.function = function
        self.errno = errno
    }
    /// Go's wording (`bind: address already in use`): dockerd shows it to users verbatim.
    public var description: String { "\(function): \(errno.lowercasedMessage)" }
}

/// The outcome of a non-blocking call: it did its work, or it would have had to wait.
/// EAGAIN is a normal event for a non-blocking relay, not an error, so it is not thrown.
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}
