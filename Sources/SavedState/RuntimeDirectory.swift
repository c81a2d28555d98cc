#if canImport(Glibc)
import Glibc
#endif
import SystemErrno

/// `/run/nftfwd`: where nftfwd keeps what only root may hold (the relay's status sockets and
/// the locks). Because nobody else can create, replace or open anything in it, a file found
/// there is root's: another user can neither squat a name before root binds it, nor take a
/// lock root needs, nor connect to a socket in it.
///
/// It is trusted only as a real directory (not a symlink) owned by uid 0 that group and others
/// cannot write; anything else is refused, never repaired, since only root could have made it
/// so and the reason should be looked at. Missing, it is created with mode 0711 (the relay's
/// unit has systemd create it: `RuntimeDirectory=nftfwd`): others may pass through but not
/// list, create or open anything, since every file in it is 0600. Passing through is what
/// lets a command run by another user (with CAP_NET_ADMIN, or one about to fail for want of
/// it) tell "no relay" (ENOENT) from "a relay only root may ask" (EACCES).
public enum RuntimeDirectory {
    public static let path = "/run/nftfwd"

    public enum State: Equatable, Sendable {
        case missing
        case trusted
        /// Present but not root's alone: the text says why.
        case unsafe(String)
    }

    /// What `path` is, without creating anything (lstat: a symlink is not followed).
    public static func check(_ path: String = path) -> State {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            return errno == ENOENT ? .missing : .unsafe("lstat failed: \(Errno.current)")
        }
        if let problem = problem(st) { return .unsafe(problem) }
        return .trusted
    }

    /// Creates `path` (mode 0711) when missing and checks it is root's alone.
    public static func prepare(_ path: String = path) throws(RuntimeFileError) {
        if mkdir(path, 0o711) == 0 {
            _ = chmod(path, 0o711)   // past the umask
        } else if errno != EEXIST {
            throw .failed("cannot create \(path)", "mkdir", .current)
        }
        switch check(path) {
        case .trusted: return
        case .missing: throw .failed("cannot create \(path)", "mkdir", .noEntry)
        case .unsafe(let problem): throw .unsafe(path, problem)
        }
    }

    /// Why `st` is not a directory only root can change, or nil.
    static func problem(_ st: stat) -> String? {
        let type = st.st_mode & S_IFMT
        if type == S_IFLNK { return "it is a symbolic link, not a directory" }
        if type != S_IFDIR { return "it is not a directory" }
        if st.st_uid != 0 { return "it is owned by uid \(st.st_uid), not root" }
        if st.st_mode & 0o022 != 0 {
            return "its mode \(octal(st.st_mode & 0o7777)) lets other users create files in it; make it 0711"
        }
        return nil
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Something under the runtime directory that could not be made or trusted: a failure of the
/// system (exit 2), never of the request.
public struct RuntimeFileError: Error, Sendable, CustomStringConvertible {
    public let description: String

    /// `path` exists but is not root's alone.
    public static func unsafe(_ path: String, _ problem: String) -> RuntimeFileError {
        RuntimeFileError(description: "refusing \(path): \(problem)")
    }

    /// `what` failed at `step`.
    public static func failed(_ what: String, _ step: String, _ errno: Errno) -> RuntimeFileError {
        RuntimeFileError(description: "\(what): \(step): \(errno)")
    }
}
