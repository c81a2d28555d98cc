#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// `relay --detach`: the command returns once the relay serves and leaves it running, as
/// systemd's ExecReload needs (it waits for its command to end; the relay that command
/// starts stays in the unit's cgroup and names itself the main process).
enum Detach {
    /// Forks before anything else runs (one thread, nothing opened). The parent waits for the
    /// child to write one byte on a pipe (it serves) and exits 0; if the pipe closes without
    /// it (the child failed, its error on the shared stderr), it exits with the child's status.
    /// Returns, in the child only, the pipe's end to write that byte to (`served(_:)`).
    static func intoBackground() -> Int32 {
        let ends: (read: Int32, write: Int32)
        do { ends = try Posix.pipe(nonBlocking: false) } catch { fatal("cannot detach: \(error)") }
        let pid = fork()
        guard pid >= 0 else { fatal("cannot detach: fork: \(Errno.current)") }
        if pid == 0 {
            Posix.close(ends.read)
            _ = setsid()   // a terminal's ^C or hangup is not the relay's business any more
            return ends.write
        }
        Posix.close(ends.write)
        if (try? Posix.readOnce(ends.read, count: 1))?.count == 1 { exit(0) }
        guard let status = try? Processes.waitForExit(pid) else { exit(1) }
        let signal = status & 0x7f
        exit(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
    }

    /// Tells the waiting parent that the relay serves.
    static func served(_ end: Int32) {
        try? Posix.writeAll(end, "1")
        Posix.close(end)
    }

    private static func fatal(_ message: String) -> Never {
        try? Posix.writeAll(2, "nftfwd: \(message)\n")
        exit(2)
    }
}
