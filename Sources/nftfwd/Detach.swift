#if canImport(Glibc)
import Glibc
#endif

/// `relay --detach`: the command returns once the relay serves and leaves it running, as
/// systemd's ExecReload needs (it waits for its command to end; the relay that command
/// starts stays in the unit's cgroup and names itself the main process).
enum Detach {
    /// Forks before anything else runs (one thread, nothing opened). The parent waits for the
    /// child to write one byte on a pipe (it serves) and exits 0; if the pipe closes without
    /// it (the child failed, its error on the shared stderr), it exits with the child's status.
    /// Returns, in the child only, the pipe's end to write that byte to (`served(_:)`).
    static func intoBackground() -> Int32 {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { fatal("cannot detach: pipe: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let pid = fork()
        guard pid >= 0 else { fatal("cannot detach: fork: \(String(cString: strerror(errno)))") }
        if pid == 0 {
            close(ends[0])
            _ = setsid()   // a terminal's ^C or hangup is not the relay's business any more
            return ends[1]
        }
        close(ends[1])
        var byte: UInt8 = 0
        var n: Int
        repeat { n = read(ends[0], &byte, 1) } while n < 0 && errno == EINTR
        if n == 1 { exit(0) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        exit(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
    }

    /// Tells the waiting parent that the relay serves.
    static func served(_ end: Int32) {
        var byte: UInt8 = 1
        _ = write(end, &byte, 1)
        close(end)
    }

    private static func fatal(_ message: String) -> Never {
        var line = Array("nftfwd: \(message)\n".utf8)
        _ = write(2, &line, line.count)
        exit(2)
    }
}
