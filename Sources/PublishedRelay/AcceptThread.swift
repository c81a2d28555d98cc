#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemErrno

/// The relay's two small servers (the status socket and the metrics endpoint): one thread that
/// accepts connections on a listening socket and serves up to `maxClients` of them at once,
/// with non-blocking sockets and `poll`, each exchange under a TOTAL deadline counted from its
/// accept (not a timeout per read or write, which a client trickling a byte at a time would
/// renew for ever). So a client that never sends, never reads or trickles holds one slot until
/// its deadline and delays nobody else; when every slot is taken the oldest client is dropped
/// for the new one, so even a flood of such clients cannot keep a real one out for longer
/// than it takes to open `maxClients` connections. `stop()` wakes the thread through a pipe and
/// returns at once, whatever the clients do.
///
/// An exchange: `admit` decides from the new socket alone (the status server checks the peer's
/// uid); refused, it is closed with nothing written. Then, if `requestLimit` is 0, `answer([])`
/// is written at once; otherwise the request is read until `isComplete` says so (more than
/// `requestLimit` bytes, or an end of stream before, closes it with nothing written), and
/// `answer(request)` is written. The socket is closed when all is written or the deadline passes.
///
/// Concurrency model: `start()` runs the loop on a thread of its own, which alone touches the
/// clients; `admit`, `isComplete` and `answer` run there. `stop()` may be called from any
/// thread, once.
final class AcceptThread: @unchecked Sendable {
    struct Exchange: Sendable {
        /// Seconds from accept to the last byte written.
        var deadline: Double
        /// The most bytes a request may have; 0: the client sends nothing.
        var requestLimit: Int
        var admit: @Sendable (Int32) -> Bool = { _ in true }
        var isComplete: @Sendable ([UInt8]) -> Bool = { _ in true }
        var answer: @Sendable ([UInt8]) -> [UInt8]
    }

    private let fd: Int32
    private let exchange: Exchange
    private let maxClients: Int
    private let wake: (read: Int32, write: Int32)
    private var thread: SpawnedThread?

    private struct Client {
        let fd: Int32
        let deadline: Double
        var request: [UInt8] = []
        /// Set once the answer is known; written from `sent` on.
        var answer: [UInt8]?
        var sent = 0
    }

    /// Takes ownership of `fd`, a listening socket.
    init(listening fd: Int32, exchange: Exchange, maxClients: Int = 64) throws(RelayDaemonError) {
        do {
            wake = try Posix.pipe(nonBlocking: true)
        } catch {
            Posix.close(fd)
            throw .system("pipe", error.errno)
        }
        Posix.setFlags(fd, nonBlocking: true)
        self.fd = fd
        self.exchange = exchange
        self.maxClients = maxClients
    }

    func start() throws(RelayDaemonError) {
        thread = try ServerThread.start { self.run() }
    }

    /// Ends the thread (its clients are closed unanswered) and closes the listening socket.
    private var stopped = false

    /// Idempotent: a relay that handed over stops its servers early and again on its way out.
    func stop() {
        guard !stopped else { return }
        stopped = true
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { try? Posix.write(wake.write, $0) }
        thread?.join()
        Posix.close(fd)
        Posix.close(wake.read)
        Posix.close(wake.write)
    }

    private func run() {
        var clients: [Client] = []
        var acceptPausedUntil = 0.0   // out of descriptors: accept again after a pause, no busy loop
        defer { for c in clients { Posix.close(c.fd) } }
        while true {
            let now = Self.now()
            clients.removeAll { c in
                if c.deadline <= now { Posix.close(c.fd); return true }
                return false
            }
            var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            let listening = now >= acceptPausedUntil
            fds.append(pollfd(fd: listening ? fd : -1, events: Int16(POLLIN), revents: 0))
            for c in clients {
                fds.append(pollfd(fd: c.fd, events: Int16(c.answer == nil ? POLLIN : POLLOUT), revents: 0))
            }
            var next = clients.map(\.deadline).min() ?? .infinity
            if !listening { next = min(next, acceptPausedUntil) }
            let timeout = next.isFinite ? Int32(max(0, min(1000, ((next - now) * 1000).rounded(.up)))) : -1
            do {
                _ = try Posix.poll(&fds, timeoutMS: timeout, retryOnInterrupt: false)
            } catch {
                if error.errno == .interrupted { continue }   // the deadlines are computed again
                if error.errno == .noMemory { Posix.sleep(nanoseconds: 10_000_000); continue }   // passes; never end the server for it
                return
            }
            if fds[0].revents != 0 { return }   // stop()
            // Clients first (their indices match `fds`), then new ones.
            var done = Set<Int>()
            for (i, entry) in fds.dropFirst(2).enumerated() where entry.revents != 0 {
                if !progress(&clients[i]) { done.insert(i) }
            }
            if !done.isEmpty {
                for i in done { Posix.close(clients[i].fd) }
                clients = clients.enumerated().filter { !done.contains($0.offset) }.map(\.element)
            }
            if fds[1].revents != 0 { acceptPausedUntil = acceptAll(into: &clients) }
        }
    }

    /// Accepts every pending connection; returns when accepting may go on (0: now).
    private func acceptAll(into clients: inout [Client]) -> Double {
        while true {
            let client: Int32
            do {
                client = try Sockets.acceptPolled(fd, nonBlocking: true)   // EINTR retried
            } catch {
                switch error.errno {
                case .connectionAborted: continue
                case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory: return Self.now() + 0.1
                default: return 0   // EAGAIN: none left
                }
            }
            guard exchange.admit(client) else { Posix.close(client); continue }
            if clients.count >= maxClients {
                Posix.close(clients.removeFirst().fd)   // the oldest: nearest its deadline anyway
            }
            var c = Client(fd: client, deadline: Self.now() + exchange.deadline)
            if exchange.requestLimit == 0 {
                c.answer = exchange.answer([])
                if !progress(&c) { Posix.close(client); continue }
            }
            clients.append(c)
        }
    }

    /// Reads or writes what the socket allows now; false when the client is done with.
    private func progress(_ c: inout Client) -> Bool {
        if c.answer == nil {
            var chunk = [UInt8](repeating: 0, count: 2048)
            while true {
                let room = min(chunk.count, exchange.requestLimit + 1 - c.request.count)
                let result = chunk.withUnsafeMutableBytes { raw in
                    Result { () throws(SyscallError) in try Sockets.receive(c.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<room])) }
                }
                guard case .success(let outcome) = result else { return false }
                guard case .done(let n) = outcome else { return true }   // EAGAIN: wait for more
                if n == 0 { return false }
                c.request += chunk[0..<n]
                if exchange.isComplete(c.request) { break }
                if c.request.count > exchange.requestLimit { return false }
            }
            c.answer = exchange.answer(c.request)
        }
        guard let answer = c.answer else { return true }
        while c.sent < answer.count {
            let result = answer.withUnsafeBytes { raw in
                Result { () throws(SyscallError) in try Posix.send(c.fd, UnsafeRawBufferPointer(rebasing: raw[c.sent...])) }
            }
            guard case .success(let outcome) = result else { return false }
            guard case .done(let n) = outcome else { return true }   // EAGAIN: wait for room
            if n == 0 { return false }
            c.sent += n
        }
        return false   // all written
    }

    static func now() -> Double { MonotonicClock.seconds() }
}
