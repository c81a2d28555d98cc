import Testing
import TestSupport
import SavedState
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// The status and metrics servers' shared loop (`AcceptThread`), the status server's socket and
/// peer check, and the runtime directory's files. Root only: the runtime directory is trusted
/// only when root owns it, and the other-user cases run a real uid-65534 process (setpriv).
@Suite("The relay's small servers and the runtime directory", .enabled(if: geteuid() == 0, "needs root (a directory of root's; setpriv)"))
struct SmallServerTests {
    /// A fresh directory of root's (mode 0700 unless said), removed by `remove()`.
    struct Scratch {
        let path: String
        init(mode: String = "0700") throws {
            path = try Command.check(["mktemp", "-d", "/tmp/nftfwd-srv-XXXXXX"]).stdout.split(separator: "\n")[0].description
            try Command.check(["chmod", mode, path])
        }
        func remove() { Command.run(["rm", "-rf", path]) }
    }

    static func listening(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var (addr, length) = try #require(StatusChannel.unixAddress(path))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(rc == 0 && listen(fd, SOMAXCONN) == 0, "bind/listen \(path): errno \(errno)")
        return fd
    }

    static func connected(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var (addr, length) = try #require(StatusChannel.unixAddress(path))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        try #require(rc == 0, "connect \(path): errno \(errno)")
        return fd
    }

    /// Reads until the end of the stream (or an error); nil if `timeout` seconds pass first.
    static func readAll(_ fd: Int32, timeout: Double) -> [UInt8]? {
        let deadline = Command.monotonicSeconds() + timeout
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline - Command.monotonicSeconds()
            guard left > 0 else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return out }
            out += chunk[0..<n]
        }
    }

    @Test("100 clients that never read a 4 MiB answer delay no other: it reads its answer whole at once; stop() returns within 1 s with them connected")
    func nonReadersHoldNobody() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 4 << 20)
        // A 30 s deadline: served one at a time, the 100 would hold the reader for 50 minutes.
        let server = try AcceptThread(listening: try Self.listening(scratch.path + "/s"),
                                      exchange: .init(deadline: 30, requestLimit: 0, answer: { _ in big }))
        try server.start()
        let idle = try (0..<100).map { _ in try Self.connected(scratch.path + "/s") }
        defer { idle.forEach { close($0) } }
        let started = Command.monotonicSeconds()
        let reader = try Self.connected(scratch.path + "/s")
        defer { close(reader) }
        let answer = Self.readAll(reader, timeout: 10)
        let took = Command.monotonicSeconds() - started
        print("4 MiB answer beside 100 clients that never read: \(Int(took * 1000)) ms")
        #expect(answer?.count == big.count)
        // Microseconds of work each; 5 s covers a loaded machine.
        #expect(took < 5)
        let stopping = Command.monotonicSeconds()
        server.stop()
        let stopTook = Command.monotonicSeconds() - stopping
        print("AcceptThread.stop() with 100 stalled clients: \(Int(stopTook * 1000)) ms")
        #expect(stopTook < 1)
    }

    @Test("the deadline is total: a request trickled a byte every 100 ms is closed unanswered at 1 s while a whole one is answered; one over the size limit is closed unanswered")
    func totalDeadline() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path + "/m"
        let server = try AcceptThread(listening: try Self.listening(path), exchange: .init(
            deadline: 1, requestLimit: MetricsServer.requestLimit, isComplete: MetricsServer.isComplete,
            answer: { Array(MetricsServer.answer(String(decoding: $0, as: UTF8.self), { "up 1\n" }).utf8) }))
        try server.start()
        defer { server.stop() }

        let slow = try Self.connected(path)
        defer { close(slow) }
        let started = Command.monotonicSeconds()
        _ = send(slow, "G", 1, Int32(MSG_NOSIGNAL))

        let good = try Self.connected(path)
        defer { close(good) }
        let request = Array("GET /metrics HTTP/1.0\r\n\r\n".utf8)
        #expect(send(good, request, request.count, Int32(MSG_NOSIGNAL)) == request.count)
        let answer = String(decoding: Self.readAll(good, timeout: 5) ?? [], as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.0 200 OK\r\n") && answer.hasSuffix("\r\n\r\nup 1\n"), "\(answer)")

        // Keep trickling; the server must close at its deadline, with nothing written.
        var closedAfter: Double?
        var got: [UInt8] = []
        for b in "ET /metrics HTTP/1.0\r\nHost: x\r\n".utf8.cycled(100) {
            var p = pollfd(fd: slow, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 100) > 0 {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = recv(slow, &chunk, chunk.count, 0)
                if n > 0 { got += chunk[0..<n]; continue }
                closedAfter = Command.monotonicSeconds() - started
                break
            }
            var byte = b
            _ = send(slow, &byte, 1, Int32(MSG_NOSIGNAL))
        }
        let after = try #require(closedAfter, "the trickling client was never closed")
        print("trickling client closed after \(Int(after * 1000)) ms (deadline 1 s)")
        #expect(got.isEmpty)
        // Not before its deadline; well before the 10 s of trickling (a per-read timeout would
        // never close it).
        #expect(after >= 0.9 && after < 3, "closed after \(after) s")

        let large = try Self.connected(path)
        defer { close(large) }
        let junk = [UInt8](repeating: UInt8(ascii: "a"), count: MetricsServer.requestLimit + 100)
        _ = send(large, junk, junk.count, Int32(MSG_NOSIGNAL))
        #expect(Self.readAll(large, timeout: 5) == [], "a request over the limit got an answer")
    }

    @Test("the status server: socket 0600, answers root, writes nothing to uid 65534; a second one is refused; stop() removes socket and lock")
    func statusServer() throws {
        // 0711: others may pass through, as through /run, so only the socket's mode and the
        // peer check stand in the way; the test then opens the socket's mode too.
        let scratch = try Scratch(mode: "0711")
        defer { scratch.remove() }
        let status = RelayStatus(pid: 4242, table: "t1", problem: nil, ports: [])
        let server = try StatusServer(table: "t1", directory: scratch.path) { status }
        try server.start()
        var st = stat()
        #expect(lstat(server.path, &st) == 0 && st.st_mode & 0o7777 == 0o600 && st.st_uid == 0)
        #expect(throws: RelayDaemonError.self) { try StatusServer(table: "t1", directory: scratch.path) { status } }

        guard case .status(let answer) = StatusChannel.ask(table: "t1", directory: scratch.path) else {
            Issue.record("root got no status")
            return
        }
        #expect(answer.pid == 4242)

        try Command.check(["chmod", "0666", server.path])
        let read = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.settimeout(5)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print("connected, read %d bytes" % len(data))
            """
        let other = Command.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                 "/usr/bin/python3", "-c", read, server.path], timeout: 20)
        #expect(other.stdout == "connected, read 0 bytes\n", "\(other)")

        server.stop()
        #expect(access(server.path, F_OK) != 0)
        #expect(Command.run(["ls", "-A", scratch.path]).stdout == "")
        guard case .noRelay = StatusChannel.ask(table: "t1", directory: scratch.path) else {
            Issue.record("a stopped relay still answers")
            return
        }
    }

    @Test("files a relay that died left behind (its socket, nobody listening; its lock file, unlocked) do not stop the next one")
    func staleFiles() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let socketPath = try StatusChannel.path(table: "t2", directory: scratch.path)
        close(try Self.listening(socketPath))   // bound, then closed: connect now gives ECONNREFUSED
        try Command.check(["install", "-m", "0600", "/dev/null", try StatusChannel.lockPath(table: "t2", directory: scratch.path)])
        guard case .noRelay = StatusChannel.ask(table: "t2", directory: scratch.path) else {
            Issue.record("a stale socket file was taken for a relay")
            return
        }
        let server = try StatusServer(table: "t2", directory: scratch.path) { RelayStatus(pid: 7, table: "t2", problem: nil, ports: []) }
        try server.start()
        defer { server.stop() }
        guard case .status(let status) = StatusChannel.ask(table: "t2", directory: scratch.path) else {
            Issue.record("the new relay does not answer")
            return
        }
        #expect(status.pid == 7)
    }

    @Test("a runtime directory that is not root's alone is refused by the relay and the asker: mode 0777, owner 65534, a symlink")
    func unsafeDirectory() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let cases: [(String, String)] = [
            ("mkdir -m 0777 '\(scratch.path)/d'", "its mode 0777 lets other users create files in it; make it 0711"),
            ("mkdir -m 0700 '\(scratch.path)/d' && chown 65534 '\(scratch.path)/d'", "it is owned by uid 65534, not root"),
            ("mkdir -m 0700 '\(scratch.path)/real' && ln -s real '\(scratch.path)/d'", "it is a symbolic link, not a directory"),
        ]
        for (make, problem) in cases {
            Command.run(["rm", "-rf", scratch.path + "/d", scratch.path + "/real"])
            try Command.check(["bash", "-c", make])
            let dir = scratch.path + "/d"
            #expect(RuntimeDirectory.check(dir) == .unsafe(problem))
            do {
                _ = try StatusServer(table: "t1", directory: dir) { RelayStatus(pid: 1, table: "t1", problem: nil, ports: []) }
                Issue.record("the relay accepted \(dir)")
            } catch {
                #expect("\(error)" == "refusing \(dir): \(problem)")
            }
            guard case .noAnswer(let why) = StatusChannel.ask(table: "t1", directory: dir) else {
                Issue.record("the asker trusted \(dir)")
                continue
            }
            #expect(why == "refusing \(dir): \(problem)")
        }
    }

    @Test("lock files: exclusive, removed on release; a file of another mode, owner or a symlink is refused; names escape the saved path")
    func lockFiles() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path + "/x.lock"
        var first: RuntimeLock? = try #require(try RuntimeLock.acquire(path, wait: nil))
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o7777 == 0o600)
        #expect(try RuntimeLock.acquire(path, wait: nil) == nil)
        let started = Command.monotonicSeconds()
        #expect(try RuntimeLock.acquire(path, wait: 0.3) == nil)
        #expect(Command.monotonicSeconds() - started >= 0.3)
        withExtendedLifetime(first) {}
        first = nil
        #expect(access(path, F_OK) != 0, "the lock file outlived its holder")
        let second = try RuntimeLock.acquire(path, wait: nil)
        #expect(second != nil)
        withExtendedLifetime(second) {}

        for (make, problem) in [("install -m 0644 /dev/null", "refusing \(scratch.path)/y.lock: its mode is 0644, not 0600"),
                                ("install -m 0600 -o 65534 /dev/null", "refusing \(scratch.path)/y.lock: it is owned by uid 65534, not root")] {
            let other = scratch.path + "/y.lock"
            Command.run(["rm", "-f", other])
            try Command.check(["bash", "-c", "\(make) '\(other)'"])
            #expect(throws: RuntimeFileError.self) { try RuntimeLock.acquire(other, wait: nil) }
            do { _ = try RuntimeLock.acquire(other, wait: nil) } catch { #expect(error.description == problem) }
        }
        try Command.check(["ln", "-s", "x.lock", scratch.path + "/z.lock"])
        do {
            _ = try RuntimeLock.acquire(scratch.path + "/z.lock", wait: nil)
            Issue.record("a symlink was followed")
        } catch {
            #expect(error.description == "cannot open the lock file \(scratch.path)/z.lock: open: Too many levels of symbolic links (ELOOP)")
        }

        #expect(StateLock.lockPath(for: "/etc/nftfwd/mappings.json") == "/run/nftfwd/saved-etc-nftfwd-mappings.json.lock")
        #expect(StateLock.lockPath(for: "/nonexistent-dir/a-b c.json", directory: "/d") == "/d/saved-nonexistent\\x2ddir-a\\x2db\\x20c.json.lock")
        let long = "/nonexistent/" + String(repeating: "n", count: 300)
        #expect(StateLock.lockPath(for: long, directory: "/d").hasPrefix("/d/saved-hash-"))
    }
}

extension Sequence {
    /// The elements, `times` times over.
    func cycled(_ times: Int) -> [Element] { Array((0..<times).map { _ in Array(self) }.joined()) }
}
