#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemErrno

/// An exclusive `flock` on a lock file in the runtime directory: a regular file of root's,
/// mode 0600, that no other user can open, create first, or replace (the directory is root's
/// alone, and the file is opened with O_NOFOLLOW and checked after opening).
///
/// The file exists only while someone holds it: the holder removes it before letting go, and
/// a taker checks, once it holds the lock, that the name still leads to the file it locked
/// (else it locked a file a holder just removed, and tries again). So nothing is left behind
/// in /run but by a process that died, whose file the next taker simply locks.
public final class RuntimeLock {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit {
        unlink(path)   // still ours: nobody else can remove it while we hold the lock
        Posix.close(fd)
    }

    /// Takes the lock at `path` (its directory must be the trusted runtime directory), waiting
    /// up to `wait` seconds for another holder (nil: not at all). Nil when it stayed held.
    public static func acquire(_ path: String, wait: Double?) throws(RuntimeFileError) -> RuntimeLock? {
        let deadline = monotonicSeconds() + (wait ?? 0)
        while true {
            let fd: Int32
            do {
                fd = try Posix.open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode: 0o600)
            } catch {
                throw .failed("cannot open the lock file \(path)", "open", error.errno)
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let e = Errno.current
                Posix.close(fd)
                throw .failed("cannot open the lock file \(path)", "fstat", e)
            }
            if let problem = problem(st) {
                Posix.close(fd)
                throw .unsafe(path, problem)
            }
            let locked: Bool
            do {
                locked = try Processes.tryLockExclusive(fd)
            } catch where error.errno == .interrupted {
                locked = false   // as if held: looked at again after the pause
            } catch {
                Posix.close(fd)
                throw .failed("cannot lock \(path)", "flock", error.errno)
            }
            if locked {
                var now = stat()
                if stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino {
                    return RuntimeLock(path: path, fd: fd)
                }
                Posix.close(fd)   // removed by the holder we waited for: lock the new one
                continue
            }
            Posix.close(fd)
            if monotonicSeconds() >= deadline { return nil }
            Posix.sleep(nanoseconds: 5_000_000)
        }
    }

    /// Why `st` is not a lock file only root can hold, or nil.
    static func problem(_ st: stat) -> String? {
        if st.st_mode & S_IFMT != S_IFREG { return "it is not a regular file" }
        if st.st_uid != 0 { return "it is owned by uid \(st.st_uid), not root" }
        if st.st_mode & 0o7777 != 0o600 { return "its mode is \(RuntimeDirectory.octal(st.st_mode & 0o7777)), not 0600" }
        if st.st_nlink != 1 { return "it has \(st.st_nlink) links" }
        return nil
    }

    static func monotonicSeconds() -> Double { MonotonicClock.seconds() }
}
