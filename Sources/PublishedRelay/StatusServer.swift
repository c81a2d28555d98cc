#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding
import SavedState
import SystemErrno
import RelayReport

/// The relay's side of the status channel: takes the endpoint's lock, binds the socket (mode
/// 0600, in the root-only runtime directory) and answers each connection of a root peer with
/// the current status, on a thread of its own (`AcceptThread`: many clients at once, 1 s in
/// all for each); `status` must be thread-safe. `stop()` removes the socket and the lock.
final class StatusServer: @unchecked Sendable {
    private let acceptor: AcceptThread
    let path: String
    /// Held until `stop()`, which lets it go (removing the file).
    private var lock: RuntimeLock?
    /// The socket file we bound, so `stop()` removes ours and nothing else.
    private let inode: (dev: UInt64, ino: UInt64)

    /// Fails with `alreadyRunning` if a relay for this table runs in this namespace.
    /// `lockWait`: seconds to wait for the lock (a relay we took over from lets go of it).
    init(table: String, directory: String = RuntimeDirectory.path, lockWait: Double? = nil,
         status: @escaping @Sendable () -> RelayStatus) throws {
        try RuntimeDirectory.prepare(directory)
        let path = try StatusChannel.path(table: table, directory: directory)
        guard let lock = try RuntimeLock.acquire(try StatusChannel.lockPath(table: table, directory: directory), wait: lockWait) else {
            throw RelayDaemonError.alreadyRunning(table: table, name: path)
        }
        // Holding the lock, whatever socket file is there was left by a relay that died.
        guard Sockets.fitsUnixAddress(path) else {
            throw RuntimeFileError.unsafe(path, "the path is too long for a unix socket")
        }
        if unlink(path) != 0 && errno != ENOENT { throw RuntimeFileError.failed("cannot remove the stale \(path)", "unlink", .current) }
        let fd: Int32
        do {
            fd = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            throw RelayDaemonError.system("socket(AF_UNIX)", error.errno)
        }
        var st = stat()
        var bound = false
        do throws(SyscallError) {
            try Sockets.bind(fd, unixPath: path)
            bound = true
            // Not listening yet, so nobody can connect before the mode is root's alone.
            guard chmod(path, 0o600) == 0, lstat(path, &st) == 0 else { throw SyscallError("chmod", .current) }
            try Sockets.listen(fd, backlog: SOMAXCONN)
        } catch {
            Posix.close(fd)
            if bound { unlink(path) }
            throw RelayDaemonError.system("binding \(path)", error.errno)
        }
        self.path = path
        self.lock = lock
        inode = (UInt64(st.st_dev), UInt64(st.st_ino))
        do {
            acceptor = try AcceptThread(listening: fd, exchange: .init(
                deadline: 1, requestLimit: 0,
                // Only root reads the relay's mappings; anyone else gets nothing at all.
                admit: { StatusChannel.peerUID($0) == 0 },
                answer: { _ in Array((status().json.rendered() + "\n").utf8) }))
        } catch {
            unlink(path)
            throw error
        }
    }

    func start() throws(RelayDaemonError) { try acceptor.start() }

    private var stopped = false

    /// Idempotent: a relay that handed over stops it early and again on its way out, when the
    /// path may already be its successor's socket (tmpfs reuses inode numbers at once).
    func stop() {
        guard !stopped else { return }
        stopped = true
        acceptor.stop()
        var st = stat()
        if lstat(path, &st) == 0 && UInt64(st.st_dev) == inode.dev && UInt64(st.st_ino) == inode.ino { unlink(path) }
        lock = nil   // after the socket: another relay may bind as soon as it can take the lock
    }
}
