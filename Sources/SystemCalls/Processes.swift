#if canImport(Glibc)
import Glibc
#endif

/// Signal masks, advisory locks and child processes: the few process-level calls outside
/// the relay (the daemon's signals, the runtime directory's lock files, the fuzz driver's child).
public enum Processes {
    /// Blocks `signals` for the calling thread (threads created afterwards inherit the mask),
    /// so they wait for a signalfd or sigtimedwait. `pthread_sigmask(3)`
    public static func blockSignals(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// `flock(LOCK_EX | LOCK_NB)`: true if taken, false if someone else holds it. EINTR is
    /// thrown (the caller's wait loop decides), like every other error.
    public static func tryLockExclusive(_ fd: Int32) throws(SyscallError) -> Bool {
        do {
            _ = try Syscall.checked("flock", retryOnInterrupt: false) { flock(fd, LOCK_EX | LOCK_NB) }
            return true
        } catch where error.errno == .wouldBlock {
            return false
        }
    }

    /// Waits for child `pid` to end (EINTR retried); its wait status. `waitpid(2)`
    public static func waitForExit(_ pid: pid_t) throws(SyscallError) -> Int32 {
        var status: Int32 = 0
        _ = try Syscall.checked("waitpid") { waitpid(pid, &status, 0) }
        return status
    }
}
