#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

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
        StatusPipe(open: Posix.isOpen(fd))
    }

    mutating func reportReady() { report("0\n") }

    mutating func reportFailure(_ message: String) { report("1\n\(message)") }

    /// Writes and closes fd 3, once.
    private mutating func report(_ text: String) {
        guard open else { return }
        open = false
        let fd = Self.fd
        try? Posix.writeAll(fd, text)   // dockerd gone: nobody to tell
        Posix.close(fd)
    }
}
