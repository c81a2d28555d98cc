import SystemErrno

/// Why the saved state file could not be read or written. A failed write leaves the previous
/// file as it was (the new one is written beside it and renamed over it only when complete).
public struct StateFileError: Error, Sendable, CustomStringConvertible {
    public enum Action: Sendable { case read, write }
    public var action: Action
    public var path: String
    /// The call that failed, as the user would recognise it: "open", "write", "rename", ...
    public var step: String
    public var errno: Errno

    public init(_ action: Action, _ path: String, _ step: String, _ errno: Errno) {
        self.action = action
        self.path = path
        self.step = step
        self.errno = errno
    }

    /// True when the file was simply not there (a path that names nothing).
    public var isMissing: Bool { action == .read && errno == .noEntry }

    public var description: String {
        switch action {
        case .read:
            if isMissing { return "cannot read \(path): \(errno) ('nftfwd save \(path)' writes it)" }
            return "cannot read \(path): \(step): \(errno)"
        case .write:
            return "cannot save to \(path): \(step): \(errno); the previous file, if any, is unchanged"
        }
    }
}
