#if canImport(Glibc)
import Glibc
#endif

/// docker-proxy's start-up protocol: the daemon passes the write end of a pipe as fd 3 and
/// reads "0\n" once the proxy serves, or "1\n" followed by the error text.
///
/// Whether fd 3 was open must be checked at start-up, before the process opens anything:
/// run by hand there is no status pipe, and fd 3 would soon be one of our own sockets.
struct StatusPipe {
    static let fd: Int32 = 3
    private var open: Bool

    /// Call first thing in main.
    static func detect() -> StatusPipe {
        StatusPipe(open: fcntl(fd, F_GETFD) >= 0)
    }

    mutating func reportReady() { report("0\n") }

    mutating func reportFailure(_ message: String) { report("1\n\(message)") }

    /// Writes and closes fd 3, once.
    private mutating func report(_ text: String) {
        guard open else { return }
        open = false
        let fd = Self.fd
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        close(fd)
    }
}
