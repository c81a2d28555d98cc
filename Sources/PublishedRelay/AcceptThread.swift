#if canImport(Glibc)
import Glibc
#endif

/// A thread that accepts connections on a listening socket and hands each to `serve`, one at
/// a time, then closes it: the shape of the relay's two small servers (the status socket and
/// the metrics endpoint), whose clients are rare and brief. A client gets `timeout` seconds
/// for each read and write, so a stalled one cannot hold the others (or shutdown) up. Running
/// out of descriptors waits for some to free up and never ends the thread; `stop()` shuts the
/// socket down, which does.
final class AcceptThread: @unchecked Sendable {
    private let fd: Int32
    private let timeout: Int
    private let serve: @Sendable (Int32) -> Void
    private var thread = pthread_t()
    private var started = false

    /// Takes ownership of `fd`, a listening socket.
    init(listening fd: Int32, timeout: Int, serve: @escaping @Sendable (Int32) -> Void) {
        self.fd = fd
        self.timeout = timeout
        self.serve = serve
    }

    func start() throws(RelayDaemonError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<AcceptThread>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<AcceptThread>.fromOpaque(context).release()
            throw .system("pthread_create", rc)
        }
        started = true
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        if started { pthread_join(thread, nil) }
        close(fd)
    }

    private func run() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM: usleep(100_000); continue
                default: return   // shut down
                }
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var tv = timeval(tv_sec: timeout, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            serve(client)
            close(client)
        }
    }

    /// Writes all of `bytes`, or as much as the client takes before an error or the timeout.
    static func sendAll(_ client: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(client, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
