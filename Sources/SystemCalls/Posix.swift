#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// File-descriptor calls shared by every kind of fd.
public enum Posix {
    /// Closes `fd`. Errors from close (even EINTR) mean the fd is gone anyway on Linux, so
    /// nothing is retried or thrown. `close(2)`
    @inlinable
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// `read(2)` into raw memory.
    @inlinable
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SyscallError) -> IOResult<Int> {
        try Syscall.call("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// `send(2)` with MSG_NOSIGNAL for sockets (a closed peer gives EPIPE, never SIGPIPE).
    @inlinable
    public static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SyscallError) -> IOResult<Int> {
        try Syscall.call("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `write(2)` for non-socket fds (eventfd, status pipes).
    @inlinable
    public static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SyscallError) -> IOResult<Int> {
        try Syscall.call("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    /// Sets O_NONBLOCK and FD_CLOEXEC on an fd we did not create (a pre-opened listen fd).
    /// `fcntl(2)`
    public static func makeNonBlockingCloseOnExec(_ fd: Int32) throws(SyscallError) {
        let flags = try Syscall.value("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        _ = try Syscall.value("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        _ = try Syscall.value("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// A close-on-exec duplicate of `fd` (`fcntl(F_DUPFD_CLOEXEC)`), the caller's to close;
    /// nil if none could be made (EMFILE).
    public static func duplicate(_ fd: Int32) -> Int32? {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        return copy >= 0 ? copy : nil
    }

    /// Sets or clears O_NONBLOCK and sets FD_CLOEXEC (best effort) on an fd made by a call
    /// that cannot set them itself.
    public static func setFlags(_ fd: Int32, nonBlocking: Bool) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { return }
        _ = fcntl(fd, F_SETFL, nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    /// A close-on-exec pipe (read end, write end), both ends non-blocking if asked. `pipe2(2)`
    public static func pipe(nonBlocking: Bool) throws(SyscallError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try Syscall.checked("pipe2") { clinux_pipe2(&fds, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) }
        return (fds[0], fds[1])
    }

    /// True if `fd` is an open file descriptor (`fcntl(F_GETFD)` without trapping on EBADF).
    public static func isOpen(_ fd: Int32) -> Bool {
        fcntl(fd, F_GETFD) >= 0
    }
}
