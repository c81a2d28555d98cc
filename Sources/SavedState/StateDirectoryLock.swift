#if canImport(Glibc)
import Glibc
#endif
import SystemErrno

/// An exclusive `flock` on the directory holding the saved file, so a change and its saving
/// happen as one step for everyone else who honours the lock: a `nftfwd --save` writer, and
/// `nftfwd relay --restore-from`, which must not see the kernel changed but the file not yet
/// (it would undo the change). A directory can be locked without write access, so the
/// sandboxed relay (ProtectSystem=strict) can take it too. Released when the value goes away
/// (or the process ends: the kernel drops the lock with the descriptor).
public final class StateDirectoryLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// Takes the lock on the directory of `path`, waiting up to `timeout` seconds for another
    /// holder (nil: do not wait). Returns nil when it is held by someone else past that.
    public static func acquire(for path: String, timeout: Double?) throws(StateFileError) -> StateDirectoryLock? {
        let dir = StateFile.split(path).directory
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StateFileError(.lock, path, "open \(dir)", .current) }
        let deadline = now() + (timeout ?? 0)
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return StateDirectoryLock(fd: fd) }
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR else {
                close(fd)
                throw StateFileError(.lock, path, "flock \(dir)", Errno(e))
            }
            if now() >= deadline { close(fd); return nil }
            usleep(5_000)
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
