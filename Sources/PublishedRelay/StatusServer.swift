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
    private let socket: RootOnlySocket

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
        let socket = try RootOnlySocket(path: path, type: Int32(SOCK_STREAM.rawValue), backlog: SOMAXCONN, what: "socket(AF_UNIX)")
        let fd = socket.fd
        self.socket = socket
        self.path = path
        self.lock = lock
        do {
            acceptor = try AcceptThread(listening: fd, exchange: .init(
                deadline: 1, requestLimit: 0,
                // Only root reads the relay's mappings; anyone else gets nothing at all.
                admit: { StatusChannel.peerUID($0) == 0 },
                answer: { _ in Array((status().json.rendered() + "\n").utf8) }))
        } catch {
            socket.remove()   // AcceptThread closed the descriptor
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
        socket.remove()
        lock = nil   // after the socket: another relay may bind as soon as it can take the lock
    }
}
