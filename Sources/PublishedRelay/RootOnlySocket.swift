#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SavedState

/// A listening unix socket of the relay's in the runtime directory (its status and takeover
/// endpoints): a stale file of that name removed first (the caller knows it is stale: it holds
/// the table's lock, or its predecessor's socket was handed over), bound, made 0600 before it
/// listens, so nobody but root can connect, and remembered by device and inode, so that `remove`
/// unlinks only our own file, never a successor's bound at the same path since.
struct RootOnlySocket {
    let path: String
    let fd: Int32
    private let inode: (dev: UInt64, ino: UInt64)

    /// `type` is SOCK_STREAM or SOCK_SEQPACKET (close-on-exec is added); `what` names the
    /// socket call in the error.
    init(path: String, type: Int32, backlog: Int32, what: String) throws {
        guard Sockets.fitsUnixAddress(path) else {
            throw RuntimeFileError.unsafe(path, "the path is too long for a unix socket")
        }
        if unlink(path) != 0 && errno != ENOENT { throw RuntimeFileError.failed("cannot remove the stale \(path)", "unlink", .current) }
        let fd: Int32
        do {
            fd = try Sockets.open(domain: AF_UNIX, type: type | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            throw RelayDaemonError.system(what, error.errno)
        }
        var st = stat()
        var bound = false
        do throws(SyscallError) {
            try Sockets.bind(fd, unixPath: path)
            bound = true
            // Not listening yet, so nobody can connect before the mode is root's alone.
            guard chmod(path, 0o600) == 0, lstat(path, &st) == 0 else { throw SyscallError("chmod", .current) }
            try Sockets.listen(fd, backlog: backlog)
        } catch {
            Posix.close(fd)
            if bound { unlink(path) }
            throw RelayDaemonError.system("binding \(path)", error.errno)
        }
        self.path = path
        self.fd = fd
        inode = (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Unlinks the path if it is still our socket (tmpfs reuses inode numbers only once ours is gone).
    func remove() {
        var st = stat()
        if lstat(path, &st) == 0 && UInt64(st.st_dev) == inode.dev && UInt64(st.st_ino) == inode.ino { unlink(path) }
    }
}
