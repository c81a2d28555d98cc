#if canImport(Glibc)
import Glibc
#endif
import SavedState
import SystemErrno

/// The old relay's side of `TakeoverEndpoint`: a thread that waits for one root peer, hands it
/// the sockets `sockets()` names, and calls `handedOver` once that peer said it adopted them
/// (at most once in the server's life). Create it only while holding the status lock: the
/// lock is what makes a socket file already at the path a dead relay's, safe to replace.
///
/// Concurrency model: the thread alone talks to peers; `stop()` (any thread, once) wakes it
/// through a pipe, joins it and removes the socket file if it is still ours.
final class TakeoverServer: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let wake: (read: Int32, write: Int32)
    private let sockets: @Sendable () -> [(HandedSocket, Int32)]
    private let handedOver: @Sendable (_ drainSeconds: Int) -> Void
    private let inode: (dev: UInt64, ino: UInt64)
    private var thread = pthread_t()
    private var started = false

    init(table: String, directory: String = RuntimeDirectory.path,
         sockets: @escaping @Sendable () -> [(HandedSocket, Int32)],
         handedOver: @escaping @Sendable (_ drainSeconds: Int) -> Void) throws {
        let path = try TakeoverEndpoint.path(table: table, directory: directory)
        guard let (addr, length) = StatusChannel.unixAddress(path) else {
            throw RuntimeFileError.unsafe(path, "the path is too long for a unix socket")
        }
        if unlink(path) != 0 && errno != ENOENT { throw RuntimeFileError.failed("cannot remove the stale \(path)", "unlink", .current) }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RelayDaemonError.system("socket(AF_UNIX, SOCK_SEQPACKET)", .current) }
        var address = addr
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        var st = stat()
        var pipeFDs: [Int32] = [-1, -1]
        // Not listening until the mode is root's alone.
        guard rc == 0, chmod(path, 0o600) == 0, lstat(path, &st) == 0, listen(fd, 4) == 0, pipe(&pipeFDs) == 0 else {
            let e = Errno.current
            close(fd)
            if rc == 0 { unlink(path) }
            throw RelayDaemonError.system("binding \(path)", e)
        }
        for end in pipeFDs { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        self.path = path
        self.fd = fd
        wake = (pipeFDs[0], pipeFDs[1])
        inode = (UInt64(st.st_dev), UInt64(st.st_ino))
        self.sockets = sockets
        self.handedOver = handedOver
    }

    func start() throws(RelayDaemonError) {
        thread = try ServerThread.start { self.run() }
        started = true
    }

    private var stopped = false

    /// Idempotent (see `StatusServer.stop`).
    func stop() {
        guard !stopped else { return }
        stopped = true
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        if started { pthread_join(thread, nil) }
        close(fd)
        close(wake.read)
        close(wake.write)
        var st = stat()
        if lstat(path, &st) == 0 && UInt64(st.st_dev) == inode.dev && UInt64(st.st_ino) == inode.ino { unlink(path) }
    }

    private func run() {
        while true {
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            let rc = poll(&fds, 2, -1)
            if rc < 0 && errno == EINTR { continue }
            if rc < 0 || fds[0].revents != 0 { return }
            let peer = accept(fd, nil, nil)
            if peer < 0 { continue }
            defer { close(peer) }
            _ = fcntl(peer, F_SETFD, FD_CLOEXEC)
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
        for fd in asked.fds { close(fd) }
        guard let drain = TakeoverEndpoint.drainSeconds(inRequest: asked.payload), asked.fds.isEmpty else { return nil }
        let all = sockets()
        var start = 0
        while start < all.count {
            let chunk = all[start..<min(all.count, start + DescriptorPassing.maxPerMessage)]
            do { try DescriptorPassing.send(chunk.map(\.1), payload: TakeoverManifest.encode(chunk.map(\.0)), over: peer) } catch { return nil }
            start += chunk.count
        }
        do { try DescriptorPassing.send([], payload: TakeoverEndpoint.done, over: peer) } catch { return nil }
        guard let answer = try? DescriptorPassing.receive(over: peer, maxPayload: 256, maxDescriptors: 1) else { return nil }
        for fd in answer.fds { close(fd) }
        return answer.payload == TakeoverEndpoint.adopted && answer.fds.isEmpty ? drain : nil
    }
}
