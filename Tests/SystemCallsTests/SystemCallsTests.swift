#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import SystemCalls

/// The shared layer's contracts that callers rely on (no root).
@Suite struct SystemCallsTests {
    @Test func writeAllAndReadAllMoveEveryByteThroughAPipe() throws {
        let pipe = try Posix.pipe(nonBlocking: false)
        // More than a pipe holds (64 KiB), so writeAll must loop over short writes.
        let text = String(repeating: "0123456789abcdef", count: 40_000)
        let reader = Mutex<[UInt8]>([])
        let thread = try Threads.spawn {
            let bytes = (try? Posix.readAll(pipe.read)) ?? []
            reader.withLock { $0 = bytes }
        }
        try Posix.writeAll(pipe.write, text)
        Posix.close(pipe.write)
        thread.join()
        Posix.close(pipe.read)
        #expect(reader.withLock { $0.count } == text.utf8.count)
        #expect(reader.withLock { String(decoding: $0, as: UTF8.self) } == text)
    }

    @Test func writeAllToAClosedDescriptorThrowsInsteadOfTrapping() throws {
        // -1, not a closed fd of ours: tests run in parallel, and a closed number is soon reused.
        #expect(throws: SyscallError("write", .badFileDescriptor)) { try Posix.writeAll(-1, "x") }
        // A pipe with no reader: EPIPE, not SIGPIPE's death (the test process ignores it as
        // the CLI's output paths must survive it too).
        let other = try Posix.pipe(nonBlocking: false)
        defer { Posix.close(other.write) }
        Posix.close(other.read)
        let previous = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, previous) }
        #expect(throws: SyscallError("write", .brokenPipe)) { try Posix.writeAll(other.write, "x") }
    }

    @Test func pollTimesOutWithNothingReadyAndSeesData() throws {
        let pipe = try Posix.pipe(nonBlocking: true)
        defer { Posix.close(pipe.read); Posix.close(pipe.write) }
        #expect(try Posix.poll(pipe.read, events: Int16(POLLIN), timeoutMS: 10) == 0)
        try Posix.writeAll(pipe.write, "x")
        #expect(try Posix.poll(pipe.read, events: Int16(POLLIN), timeoutMS: 1000) & Int16(POLLIN) != 0)
        var byte: UInt8 = 0
        let result = try withUnsafeMutableBytes(of: &byte) { raw in try Posix.read(pipe.read, into: raw) }
        guard case .done(1) = result else { Issue.record("read gave \(result)"); return }
        #expect(byte == UInt8(ascii: "x"))
        // Empty again: a non-blocking read is `.wouldBlock`, not an error.
        let again = try withUnsafeMutableBytes(of: &byte) { raw in try Posix.read(pipe.read, into: raw) }
        guard case .wouldBlock = again else { Issue.record("read gave \(again)"); return }
    }

    @Test func unixSocketsByPathAcceptWithCloseOnExec() throws {
        let path = "/tmp/systemcalls-test-\(getpid()).sock"
        unlink(path)
        defer { unlink(path) }
        // A non-blocking listener, as the small servers poll theirs.
        let server = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
        defer { Posix.close(server) }
        try Sockets.bind(server, unixPath: path)
        try Sockets.listen(server, backlog: 4)
        let client = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        defer { Posix.close(client) }
        try Sockets.connect(client, unixPath: path)
        let accepted = try Sockets.acceptPolled(server, nonBlocking: true)
        defer { Posix.close(accepted) }
        #expect(fcntl(accepted, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(accepted, F_GETFL) & O_NONBLOCK != 0)
        #expect(Sockets.peerCredentials(accepted)?.uid == getuid())
        #expect(Sockets.peerCredentials(accepted)?.pid == getpid())
        // Nobody else waiting: EAGAIN comes back as an error to the poller, never a trap.
        #expect(throws: SyscallError("accept4", .wouldBlock)) { try Sockets.acceptPolled(server, nonBlocking: true) }
    }

    @Test func aPathTooLongForSockaddrUnIsRefusedByName() throws {
        let path = "/tmp/" + String(repeating: "x", count: 200)
        #expect(!Sockets.fitsUnixAddress(path))
        let fd = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        defer { Posix.close(fd) }
        #expect(throws: SyscallError("bind", Errno(ENAMETOOLONG))) { try Sockets.bind(fd, unixPath: path) }
    }

    @Test func theClockMovesForwardAndSleepWaitsAtLeastItsTime() {
        let start = MonotonicClock.now()
        Posix.sleep(nanoseconds: 2_000_000)
        let end = MonotonicClock.now()
        #expect(end >= start + 2_000_000)
        #expect(abs(MonotonicClock.seconds() - Double(MonotonicClock.now()) / 1e9) < 1)
    }

    @Test func aDuplicateIsCloseOnExec() throws {
        let pipe = try Posix.pipe(nonBlocking: false)
        defer { Posix.close(pipe.read); Posix.close(pipe.write) }
        let copy = try #require(Posix.duplicate(pipe.read))
        defer { Posix.close(copy) }
        #expect(copy != pipe.read)
        #expect(fcntl(copy, F_GETFD) & FD_CLOEXEC != 0)
    }
}
