#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing

/// Starts the built nftfwd-proxy the way dockerd does: fd 3 is the write end of a status
/// pipe, and with -use-listen-fd fd 4 is a socket opened by the caller.
struct ProxyProcess {
    let pid: pid_t
    private let statusRead: Int32

    /// The nftfwd-proxy binary next to this test bundle (both live in the build folder).
    static func binaryPath() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        try #require(n > 0, "cannot read /proc/self/exe")
        let exe = cText(Array(buffer[0..<n]) + [0])
        let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let path = dir + "/nftfwd-proxy"
        try #require(access(path, X_OK) == 0, """
            nftfwd-proxy is not built at \(path); build it first with \
            `swift build --scratch-path .build-relay --product nftfwd-proxy`
            """)
        return path
    }

    /// Spawns `nftfwd-proxy arguments...` with fd 3 = status pipe (unless `statusPipe` is
    /// false: then fd 3 is left closed, as when run by hand) and, if given, fd 4 = `listenFD`.
    /// `wrapper` (absolute path first) runs in front, e.g. prlimit.
    /// `stderr`: an fd the child's standard error goes to (default: /dev/null).
    init(_ arguments: [String], listenFD: Int32? = nil, statusPipe: Bool = true, wrapper: [String] = [], stderr: Int32? = nil) throws {
        let path = try Self.binaryPath()
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        statusRead = fds[0]
        defer { close(fds[1]) }   // the child holds the only write end after the spawn

        // dockerd's proxies inherit only fds 0-4: Command.spawn closes every other one in the child.
        var extra: [Int32: Int32] = [:]
        if statusPipe { extra[3] = fds[1] }
        if let listenFD { extra[4] = listenFD }
        let child = Command.spawn(wrapper + [path] + arguments, stderr: stderr, extra: extra)
        pid = try #require(child, "posix_spawn of \(path) failed")
    }

    /// Reads the status pipe until EOF, for at most `timeout` seconds (dockerd waits 16 s).
    func status(timeout: Double = 16) -> String {
        var bytes: [UInt8] = []
        let deadline = monotonicNow() + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while monotonicNow() < deadline {
            var p = pollfd(fd: statusRead, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(max(1, (deadline - monotonicNow()) * 1000)))
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(statusRead, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        close(statusRead)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends `signal` and waits (bounded) for the exit status; kills it if it does not exit.
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 5) -> Int32? {
        kill(pid, signal)
        return waitExit(timeout: timeout)
    }

    /// User+system CPU seconds the process used so far (/proc/PID/stat).
    func cpuSeconds() -> Double? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let paren = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: paren)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func waitExit(timeout: Double = 5) -> Int32? {
        if let status = Command.wait(pid: pid, timeout: timeout) { return status }
        kill(pid, SIGKILL)
        _ = Command.wait(pid: pid, timeout: 5)
        return nil
    }
}
