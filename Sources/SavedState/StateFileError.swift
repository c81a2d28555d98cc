import SystemErrno

/// Why the saved state file could not be read or written. A failed write leaves the
/// previous file as it was (the new one is written beside it and renamed over it only when
/// complete), unless only the last step failed: the sync of the directory after the rename
/// (`replaced`).
public struct StateFileError: Error, Sendable, CustomStringConvertible {
    public enum Action: Sendable { case read, write }
    public var action: Action
    public var path: String
    /// The call that failed, as the user would recognise it: "open", "write", "rename", ...
    public var step: String
    public var errno: Errno
    /// The new file was renamed into place before the failure: it is there, but the rename may
    /// not survive a crash.
    public var replaced: Bool

    public init(_ action: Action, _ path: String, _ step: String, _ errno: Errno, replaced: Bool = false) {
        self.action = action
        self.path = path
        self.step = step
        self.errno = errno
        self.replaced = replaced
    }

    /// True when the file was simply not there (a path that names nothing).
    public var isMissing: Bool { action == .read && errno == .noEntry }

    public var description: String {
        switch action {
        case .read:
            if isMissing { return "cannot read \(path): \(errno) ('nftfwd save \(path)' writes it)" }
            return "cannot read \(path): \(step): \(errno)"
        case .write where replaced:
            return "cannot save to \(path) durably: \(step): \(errno); the new file is in place, but after a crash the previous one may be back"
        case .write:
            return "cannot save to \(path): \(step): \(errno); the previous file, if any, is unchanged"
        }
    }
}
