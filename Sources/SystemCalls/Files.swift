#if canImport(Glibc)
import Glibc
#endif

/// Blocking whole-buffer I/O and files by path: what the CLI, the plugins and the daemon's
/// small servers need (the relay's non-blocking calls are `Posix.read`/`send`/`write`).
extension Posix {
    /// Writes every byte of `buffer` to a blocking fd, retrying EINTR and short writes.
    /// Throws on the first error (EAGAIN included: the fd was not blocking); a write that
    /// takes nothing (0) throws EIO rather than looping.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SyscallError) {
        var offset = 0
        while offset < buffer.count {
            let n = try Syscall.checked("write") { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            if n == 0 { throw SyscallError("write", Errno(EIO)) }
            offset += n
        }
    }

    /// `writeAll` of a text's UTF-8 bytes.
    public static func writeAll(_ fd: Int32, _ text: String) throws(SyscallError) {
        var text = text
        // withUTF8 rethrows untyped: the typed error is carried out by hand.
        let result = text.withUTF8 { buffer in Result { () throws(SyscallError) in try writeAll(fd, UnsafeRawBufferPointer(buffer)) } }
        try result.get()
    }

    /// Reads a blocking fd to its end (EINTR retried), or until at least `limit` bytes came.
    /// An error throws, and the bytes read before it are dropped with it.
    public static func readAll(_ fd: Int32, limit: Int = .max, chunk: Int = 65536) throws(SyscallError) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while bytes.count < limit {
            let n = try buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SyscallError) in try Syscall.checked("read") { Glibc.read(fd, raw.baseAddress, raw.count) } }
            }.get()
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    /// Like `readAll`, but an error ends the read as the end of the file would: what came
    /// before it is returned (for /proc and /sys files, where a late error means "no more").
    public static func readAvailable(_ fd: Int32, limit: Int = .max, chunk: Int = 65536) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while bytes.count < limit {
            let n = buffer.withUnsafeMutableBytes { raw in
                (try? Syscall.checked("read") { Glibc.read(fd, raw.baseAddress, raw.count) }) ?? 0
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes
    }

    /// One blocking `write(2)` (EINTR retried); how many bytes it took.
    @discardableResult
    public static func writeOnce(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SyscallError) -> Int {
        try Syscall.checked("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }

    /// One blocking `read(2)` of up to `count` bytes (EINTR retried); fewer at the end.
    public static func readOnce(_ fd: Int32, count: Int) throws(SyscallError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SyscallError) in try Syscall.checked("read") { Glibc.read(fd, raw.baseAddress, raw.count) } }
        }.get()
        return Array(buffer[0..<n])
    }

    /// `open(2)` (EINTR retried: opening a FIFO or a slow device may be interrupted). Callers
    /// pass O_CLOEXEC themselves, so a flag set is visible where the file is opened.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(SyscallError) -> Int32 {
        try Syscall.checked("open") { Glibc.open(path, flags, mode) }
    }

    /// `fsync(2)`.
    public static func fsync(_ fd: Int32) throws(SyscallError) {
        _ = try Syscall.checked("fsync") { Glibc.fsync(fd) }
    }

    /// `close(2)` for a file whose writes must be known to have landed (NFS, quotas report
    /// there): unlike `close`, the error is thrown. Not retried on EINTR (the fd is gone).
    public static func closeChecked(_ fd: Int32) throws(SyscallError) {
        _ = try Syscall.checked("close", retryOnInterrupt: false) { Glibc.close(fd) }
    }

    /// Sleeps for at least `nanoseconds` (`nanosleep(2)`, resumed after a signal).
    public static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// `poll(2)` on `fds` for up to `timeoutMS` (-1: no limit); returns how many are ready,
    /// 0 on timeout. With `retryOnInterrupt` false EINTR is thrown, so a caller's loop can
    /// look at its deadline again (a retry here would restart the whole timeout).
    public static func poll(_ fds: inout [pollfd], timeoutMS: Int32, retryOnInterrupt: Bool = true) throws(SyscallError) -> Int {
        while true {
            let rc = Glibc.poll(&fds, nfds_t(fds.count), timeoutMS)
            if rc >= 0 { return Int(rc) }
            let error = Errno.current
            if error == .interrupted && retryOnInterrupt { continue }
            throw SyscallError("poll", error)
        }
    }

    /// `poll(2)` on one fd: its returned events, or 0 on timeout; EINTR is thrown (see above).
    public static func poll(_ fd: Int32, events: Int16, timeoutMS: Int32) throws(SyscallError) -> Int16 {
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        return try poll(&fds, timeoutMS: timeoutMS, retryOnInterrupt: false) > 0 ? fds[0].revents : 0
    }
}
