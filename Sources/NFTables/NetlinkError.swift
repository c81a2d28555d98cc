@_exported import SystemErrno

/// Why a conversation with the kernel over netlink failed.
public enum NetlinkError: Error, Sendable, CustomStringConvertible {
    /// A system call on the netlink socket itself failed (`socket`, `bind`, `sendto`, `recvfrom`).
    case system(call: String, errno: Errno)
    /// The kernel rejected a batch. Nothing of it was applied. Each entry names the message
    /// it concerns (as the builder described it) and the errno the kernel gave.
    case rejected([Rejection])
    /// The kernel rejected a request (a query, not a batch).
    case request(what: String, errno: Errno)
    /// A reply could not be parsed.
    case malformedReply(String)
    /// The kernel reported no error, yet the ruleset generation did not move: the batch was
    /// not applied.
    case notApplied

    /// One message of a batch the kernel refused.
    public struct Rejection: Sendable, Equatable, CustomStringConvertible {
        public var operation: String
        public var errno: Errno
        /// The kernel's extended-ACK text, when it sent one.
        public var detail: String?
        public init(operation: String, errno: Errno, detail: String? = nil) {
            self.operation = operation; self.errno = errno; self.detail = detail
        }
        public var description: String {
            "kernel rejected '\(operation)': \(errno)" + (detail.map { " [\($0)]" } ?? "")
        }
    }

    /// The errno behind the failure, when there is a single one.
    public var errno: Errno? {
        switch self {
        case .system(_, let e), .request(_, let e): return e
        case .rejected(let list): return list.first?.errno
        case .malformedReply, .notApplied: return nil
        }
    }

    public var description: String {
        switch self {
        case .system(let call, let e):
            return "netlink \(call) failed: \(e)"
        case .rejected(let list):
            let shown = list.prefix(5).map(\.description)
            let more = list.count > 5 ? ["... and \(list.count - 5) more"] : []
            return (shown + more).joined(separator: "\n")
        case .request(let what, let e):
            return "kernel refused '\(what)': \(e)"
        case .malformedReply(let what):
            return "malformed netlink reply: \(what)"
        case .notApplied:
            return "the kernel did not apply the batch, and reported no error (the ruleset generation did not change)"
        }
    }
}
