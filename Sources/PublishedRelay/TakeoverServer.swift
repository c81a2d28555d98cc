#if canImport(Glibc)
import Glibc
#endif
import SavedState
import SystemCalls
import SystemErrno

/// The old relay's side of `TakeoverEndpoint`: a thread that waits for one root peer, hands it
/// the sockets `sockets()` names (duplicates made for that exchange, which it closes after),
/// and calls `handedOver` once that peer said it adopted them (at most once in the server's
/// life). Create it only while holding the status lock: the lock is what makes a socket file
/// already at the path a dead relay's, safe to replace.
///
/// Concurrency model: the thread alone talks to peers; `stop()` (any thread, once) wakes it
/// through a pipe, joins it and removes the socket file if it is still ours.
final class TakeoverServer: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let wake: (read: Int32, write: Int32)
    private let sockets: @Sendable () -> [(HandedSocket, Int32)]
    private let handedOver: @Sendable (_ drainSeconds: Int) -> Void
    private let socket: RootOnlySocket
    private var thread: SpawnedThread?

    init(table: String, directory: String = RuntimeDirectory.path,
         sockets: @escaping @Sendable () -> [(HandedSocket, Int32)],
         handedOver: @escaping @Sendable (_ drainSeconds: Int) -> Void) throws {
        let path = try TakeoverEndpoint.path(table: table, directory: directory)
        let socket = try RootOnlySocket(path: path, type: Int32(SOCK_SEQPACKET.rawValue), backlog: 4, what: "socket(AF_UNIX, SOCK_SEQPACKET)")
        do {
            wake = try Posix.pipe(nonBlocking: false)
        } catch {
            Posix.close(socket.fd)
            socket.remove()
            throw RelayDaemonError.system("binding \(path)", error.errno)
        }
        self.socket = socket
        self.path = path
        self.fd = socket.fd
        self.sockets = sockets
        self.handedOver = handedOver
    }

    func start() throws(RelayDaemonError) {
        thread = try ServerThread.start { self.run() }
    }

    private var stopped = false

    /// Idempotent (see `StatusServer.stop`).
    func stop() {
        guard !stopped else { return }
        stopped = true
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { try? Posix.write(wake.write, $0) }
        thread?.join()
        Posix.close(fd)
        Posix.close(wake.read)
        Posix.close(wake.write)
        socket.remove()
    }

    private func run() {
        while true {
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            do { _ = try Posix.poll(&fds, timeoutMS: -1) } catch { return }   // EINTR retried
            if fds[0].revents != 0 { return }
            guard let peer = try? Sockets.acceptPolled(fd, nonBlocking: false) else { continue }
            defer { Posix.close(peer) }
            guard StatusChannel.peerUID(peer) == 0 else { continue }
            // A peer that stalls is given up on; the relay keeps serving meanwhile (other thread).
            TakeoverEndpoint.setTimeout(peer, seconds: 5)
            if let drain = exchange(peer) {
                handedOver(drain)
                return   // one takeover per relay: it is leaving
            }
        }
    }

    /// One exchange; the drain seconds asked for once the peer confirmed it adopted every socket.
    private func exchange(_ peer: Int32) -> Int? {
        guard let asked = try? DescriptorPassing.receive(over: peer, maxPayload: 256, maxDescriptors: 1) else { return nil }
        for fd in asked.fds { Posix.close(fd) }
        guard let drain = TakeoverEndpoint.drainSeconds(inRequest: asked.payload), asked.fds.isEmpty else { return nil }
        let all = sockets()
        // Our duplicates: the peer holds its own once a message is sent; ours close either way.
        defer { for (_, fd) in all { Posix.close(fd) } }
        for range in TakeoverManifest.chunks(all.map(\.0), maxDescriptors: DescriptorPassing.maxPerMessage, maxBytes: TakeoverEndpoint.maxMessage) {
            let chunk = all[range]
            do { try DescriptorPassing.send(chunk.map(\.1), payload: TakeoverManifest.encode(chunk.map(\.0)), over: peer) } catch { return nil }
        }
        do { try DescriptorPassing.send([], payload: TakeoverEndpoint.done, over: peer) } catch { return nil }
        guard let answer = try? DescriptorPassing.receive(over: peer, maxPayload: 256, maxDescriptors: 1) else { return nil }
        for fd in answer.fds { Posix.close(fd) }
        return answer.payload == TakeoverEndpoint.adopted && answer.fds.isEmpty ? drain : nil
    }
}
