#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Pipes and `splice(2)`: moving bytes socket -> pipe -> socket without copying them
/// through user space.
public enum Splice {
    /// A non-blocking, close-on-exec pipe, resized to `capacity` bytes if the kernel allows.
    /// Returns (read end, write end, actual capacity). `pipe2(2)`, `fcntl(F_SETPIPE_SZ)`
    public static func makePipe(capacity: Int) throws(SyscallError) -> (Int32, Int32, Int) {
        var fds: [Int32] = [-1, -1]
        _ = try Syscall.value("pipe2") { clinux_pipe2(&fds, O_NONBLOCK | O_CLOEXEC) }
        let size = clinux_set_pipe_size(fds[1], Int32(capacity))
        return (fds[0], fds[1], size > 0 ? Int(size) : 65536)
    }

    /// Moves up to `count` bytes from `source` to `destination`, one of which must be a pipe.
    /// `splice(2)` with SPLICE_F_MOVE|SPLICE_F_NONBLOCK.
    @inlinable @inline(__always)
    public static func move(from source: Int32, to destination: Int32, count: Int) throws(SyscallError) -> IOResult<Int> {
        try Syscall.call("splice") {
            clinux_splice(source, destination, count, CLINUX_SPLICE_F_MOVE | CLINUX_SPLICE_F_NONBLOCK)
        }
    }
}
