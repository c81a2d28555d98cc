#if canImport(Glibc)
import Glibc
#endif
@testable import NFTRelay
import Testing

/// A target that sends zeros to every client as fast as it can (a `/dev/zero` stream) until
/// the client goes away or `stop()`.
final class ZeroServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let stopping = Shared(false)
    private var thread: TestThread?

    init() {
        (listener, port) = TestSocket.listen()
        let listener = self.listener, stopping = self.stopping
        thread = TestThread {
            let fd = TestSocket.accept(listener)
            guard fd >= 0 else { return }
            let discard = Sink(fd)
            defer { discard.stop() }
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            while !stopping.get() {
                let n = zeros.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 && errno != EINTR && errno != EAGAIN { break }
            }
            close(fd)
        }
    }

    func stop() {
        stopping.set(true)
        shutdown(listener, Int32(SHUT_RDWR))   // unblocks an accept that never came
        thread?.join()
        thread = nil
        close(listener)
    }
}

/// Reads and discards from `fd` until EOF/error or `stop`; counts the bytes.
final class Sink: @unchecked Sendable {
    let received = Shared(0)
    private let stopping = Shared(false)
    private var thread: TestThread?

    init(_ fd: Int32) {
        let received = self.received, stopping = self.stopping
        thread = TestThread {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while !stopping.get() {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { received.update { $0 += n } } else if n == 0 || errno != EINTR && errno != EAGAIN { break }
            }
        }
    }

    func stop() {
        stopping.set(true)
        thread?.join()
        thread = nil
    }
}

extension NFTRelayTests {
    @Suite("Relay under hostile load")
    struct HostileLoad {
        /// A connected TCP pair on loopback, both ends non-blocking, with big buffers (root
        /// may force them), so megabytes can wait in the kernel.
        static func bigPair() -> (Int32, Int32) {
            let (listener, port) = TestSocket.listen()
            defer { close(listener) }
            var size: Int32 = 16 << 20
            setsockopt(listener, SOL_SOCKET, SO_RCVBUFFORCE, &size, 4)   // inherited by the accepted end
            let a = TestSocket.connect("127.0.0.1", port)
            let b = TestSocket.accept(listener)
            setsockopt(a, SOL_SOCKET, SO_SNDBUFFORCE, &size, 4)
            for fd in [a, b] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            return (a, b)
        }

        /// The mechanism, without timing: with 3 MiB waiting at the source and room at the
        /// destination, one `pump` moves one budget and yields; further pumps move the rest.
        /// Without the budget the first pump would move all 3 MiB before returning.
        @Test("one pump moves at most the byte budget, then yields, and the next ones go on")
        func pumpYieldsAtTheBudget() throws {
            let (writer, source) = Self.bigPair()
            let (destination, reader) = Self.bigPair()
            defer { for fd in [writer, source, destination, reader] { close(fd) } }
            let total = 3 << 20
            let payload = [UInt8](repeating: 0x5a, count: total)
            var sent = 0
            let sendDeadline = monotonicNow() + 10
            while sent < total && monotonicNow() < sendDeadline {
                let n = payload.withUnsafeBytes { send(writer, $0.baseAddress! + sent, total - sent, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n } else { usleep(1000) }
            }
            try #require(sent == total, "the kernel took only \(sent) bytes")
            // Wait (bounded) until more than 2 MiB (two budgets) are queued at the source.
            var queued: Int32 = 0
            try #require(eventually(timeout: 5) { ioctl(source, UInt(FIONREAD), &queued); return Int(queued) > 2 << 20 })

            let pool = PipePool()
            let direction = RelayDirection(from: source, to: destination)
            let first = direction.pump(pool)
            guard case .yielded = first else {
                Issue.record("the first pump returned \(first) after \(direction.delivered) bytes, not .yielded")
                return
            }
            #expect(direction.delivered >= UInt64(RelayDirection.budget) && direction.delivered <= UInt64(RelayDirection.budget + 65536),
                    "one turn moved \(direction.delivered) bytes")
            // Draining the reader keeps room at the destination; each further pump moves at most a budget.
            let drained = Shared(0)
            let drainer = TestThread {
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                let deadline = monotonicNow() + 10
                while drained.get() < total && monotonicNow() < deadline {
                    let n = buffer.withUnsafeMutableBytes { recv(reader, $0.baseAddress, $0.count, 0) }
                    if n > 0 { drained.update { $0 += n } } else { usleep(1000) }
                }
            }
            var turns = 1
            let deadline = monotonicNow() + 10
            while direction.delivered < UInt64(total) && monotonicNow() < deadline {
                let before = direction.delivered
                _ = direction.pump(pool)
                #expect(direction.delivered - before <= UInt64(RelayDirection.budget + 65536))
                if direction.delivered > before { turns += 1 } else { usleep(1000) }
            }
            drainer.join()
            #expect(direction.delivered == UInt64(total))
            #expect(drained.get() == total)
            #expect(turns >= 3, "3 MiB took \(turns) turns")
            direction.abandon(pool)
        }

        /// One loop thread carries a bulk stream (zeros both ways, as fast as loopback goes)
        /// and a ping-pong connection; 200 round trips are timed, in wall time and in the
        /// loop thread's CPU time.
        ///
        /// The pinging thread (which also plays the ping's target, so no third thread has to
        /// wake) runs at nice -20 where allowed, so it answers as soon as its bytes arrive;
        /// the loop and the bulk threads keep the normal priority. On the 2-core box at load
        /// 10-17 (other builds) the median round trip was 0.1 ms with and without the budget:
        /// what a starved loop changes is the tail, and that depends on whether the bulk
        /// writers outrun the relay, which a loaded box decides (99th percentiles of 95-450 ms
        /// before the budget in some runs, 6-40 ms in others; with it 2-130 ms, while the loop's own CPU time per round trip stayed under 12 ms). So this test
        /// pins the median (under 50 ms, as the issue asks: a thread woken for a ping on a busy
        /// 2-core box runs within a few ms) and that every round trip completes within 2 s,
        /// and prints the tail; `pumpYieldsAtTheBudget` pins the mechanism exactly.
        @Test("a bulk stream on the one loop leaves another connection's round trips under 50 ms (median)")
        func bulkStreamDoesNotStarveTheLoop() throws {
            let zero = ZeroServer()
            defer { zero.stop() }
            let (pingTarget, pingTargetPort) = TestSocket.listen()
            defer { close(pingTarget) }
            let engine = try RelayEngine(loops: 1)
            let bulkID = try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: zero.port)!))
            let pingID = try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: pingTargetPort)!))
            let bulkPort = try #require(engine.stats(for: bulkID)).boundAddress.port
            let pingPort = try #require(engine.stats(for: pingID)).boundAddress.port
            // The loop runs on a thread of ours, so the pinger can read its CPU clock.
            let loopClock = Shared<clockid_t?>(nil)
            let loop = TestThread {
                var clock = clockid_t()
                if pthread_getcpuclockid(pthread_self(), &clock) == 0 { loopClock.set(clock) }
                _ = try? engine.run()
            }
            defer { engine.stop(); loop.join() }

            let bulk = TestSocket.connect("127.0.0.1", bulkPort)
            try #require(bulk >= 0)
            let sink = Sink(bulk)
            defer { sink.stop(); close(bulk) }
            let uploader = TestThread {
                    let zeros = [UInt8](repeating: 0, count: 4 << 20)
                while true {
                    let n = zeros.withUnsafeBytes { send(bulk, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n <= 0 && errno != EINTR && errno != EAGAIN { break }
                }
            }
            defer { shutdown(bulk, Int32(SHUT_RDWR)); uploader.join() }
            // The stream really runs before we measure (64 MiB through the relay).
            try #require(eventually(timeout: 20) { sink.received.get() > 64 << 20 }, "the bulk stream did not start")

            let clock = try #require(loopClock.get())
            @Sendable func loopCPU() -> Double {
                var ts = timespec()
                clock_gettime(clock, &ts)
                return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
            }
            let times = Shared<[(wall: Double, cpu: Double)]>([])
            let before = sink.received.get()
            let pinger = TestThread {
                raisePriority()   // answers at once: the figure is the relay's, not this thread's wake-up
                let ping = TestSocket.connect("127.0.0.1", pingPort)
                guard ping >= 0 else { return }
                defer { close(ping) }
                TestSocket.setTimeouts(ping, seconds: 2)
                let far = TestSocket.accept(pingTarget)
                guard far >= 0 else { return }
                defer { close(far) }
                TestSocket.setTimeouts(far, seconds: 2)
                let deadline = monotonicNow() + 30   // bounds the test even if every ping is slow
                for i in 0..<200 where monotonicNow() < deadline {
                    let start = monotonicNow(), startCPU = loopCPU()
                    guard TestSocket.sendAll(ping, [UInt8(i)]), TestSocket.read(far, count: 1) == [UInt8(i)],
                          TestSocket.sendAll(far, [UInt8(i)]), TestSocket.read(ping, count: 1) == [UInt8(i)] else { break }
                    let sample = (monotonicNow() - start, loopCPU() - startCPU)
                    times.update { $0.append(sample) }
                }
            }
            pinger.join()
            let during = sink.received.get() - before
            let samples = times.get()
            #expect(samples.count == 200, "only \(samples.count) of 200 round trips completed (2 s timeout each)")
            func percentiles(_ values: [Double]) -> (median: Double, p99: Double, max: Double) {
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return (.infinity, .infinity, .infinity) }
                return (sorted[sorted.count / 2], sorted[sorted.count * 99 / 100], sorted[sorted.count - 1])
            }
            let wall = percentiles(samples.map(\.wall)), cpu = percentiles(samples.map(\.cpu))
            func ms(_ value: Double) -> String { String(Int(value * 1e4)).count > 1 ? "\(Double(Int(value * 1e4)) / 10) ms" : "0 ms" }
            print("bulk-vs-ping: \(samples.count) round trips; wall median \(ms(wall.median)), p99 \(ms(wall.p99)), max \(ms(wall.max)); loop CPU median \(ms(cpu.median)), p99 \(ms(cpu.p99)), max \(ms(cpu.max)); bulk moved \(during >> 20) MiB meanwhile")
            #expect(wall.median < 0.050, "median round trip \(wall.median * 1000) ms while a bulk stream runs")
            #expect(during > 0, "the bulk stream must keep flowing while the pings run")
        }
    }
}

/// Puts the calling thread at nice -20 (root only; elsewhere it stays as it was), so that
/// a latency measurement is not decided by other processes on a busy machine.
func raisePriority(to nice: Int32 = -20) {
    // The thread id, from /proc/thread-self -> "PID/task/TID" (Glibc's gettid is not imported).
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard n > 0, let tid = cText(Array(buffer[0..<n]) + [0]).split(separator: "/").last.flatMap({ id_t($0) }) else { return }
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, nice)
}

extension NFTRelayTests {
    @Suite("UDP relay under hostile load")
    struct HostileUDP {
        /// A UDP socket bound to `host` on an ephemeral port.
        static func socket(_ host: String) -> Int32 { TestSocket.udp(host).0 }

        @Test("one source opening thousands of flows cannot evict another source's flow")
        func floodCannotEvictOthers() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, listen: "0.0.0.0", targetPort: echo.port) { $0.connectionLimit = 64 }
            defer { relay.stop() }
            let victim = Self.socket("127.0.0.2")
            defer { close(victim) }
            #expect(udpExchange(victim, "127.0.0.1", relay.port, [1])?.0 == [1])
            let flowsBefore = try #require(relay.stats).totalConnections

            // 3,000 flows from 127.0.0.1, one port each, one datagram each (sent, not awaited:
            // the flood is what matters, and waiting for 3,000 replies only slows the test).
            let flood = 3000
            for i in 0..<flood {
                let fd = Self.socket("127.0.0.1")
                _ = [UInt8(i & 0xff)].withUnsafeBytes { raw in
                    TestSocket.withAddress("127.0.0.1", relay.port) { sendto(fd, raw.baseAddress, raw.count, 0, $0, $1) }
                }
                close(fd)
            }
            // A last flood datagram answered: the listener has processed everything before it.
            let last = Self.socket("127.0.0.1")
            defer { close(last) }
            #expect(udpExchange(last, "127.0.0.1", relay.port, [0xff])?.0 == [0xff])
            let flowsAfter = try #require(relay.stats).totalConnections
            // (A few ports come back from the kernel twice and reuse a flow.)
            #expect(flowsAfter - flowsBefore > flood * 9 / 10, "the flood opened only \(flowsAfter - flowsBefore) flows")
            #expect((relay.stats?.activeConnections ?? 99) <= 64)
            // The victim's flow is the one it had: its next datagram opens no new flow.
            #expect(udpExchange(victim, "127.0.0.1", relay.port, [2])?.0 == [2])
            #expect(relay.stats?.totalConnections == flowsAfter, "the victim's flow was evicted by the flood")
        }
    }
}

/// Collects a relay engine's events.
final class EventLog: Sendable {
    private let events = Shared<[RelayEvent]>([])
    var sink: RelayEventSink { { [events] event in events.update { $0.append(event) } } }
    var all: [RelayEvent] { events.get() }
}

/// The local fds of this process that are TCP sockets connected to `peerPort` on loopback.
func tcpSockets(connectedToPort peerPort: UInt16) -> [Int32] {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    defer { closedir(dir) }
    var found: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name) else { continue }
        var type: Int32 = 0
        var length = socklen_t(4)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else { continue }
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &size) } }
        guard rc == 0, let text = SocketAddressText(storage), text.hasSuffix(":\(peerPort)") else { continue }
        found.append(fd)
    }
    return found
}

func intOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
    var value: Int32 = -1
    var length = socklen_t(4)
    getsockopt(fd, level, name, &value, &length)
    return value
}

extension NFTRelayTests {
    @Suite("TCP relay: keepalive, idle timeout, per-source limit")
    struct HostileTCP {
        @Test("keepalive is on, with the standard timings, on both legs of a relayed connection")
        func keepaliveBothLegs() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port)
            defer { relay.stop() }
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            defer { close(client) }
            TestSocket.sendAll(client, [1])
            try #require(TestSocket.read(client, count: 1) == [1])
            // The relay's legs: the socket whose peer is our client's port (accepted), and the
            // one whose peer is the echo server (connected); ours are excluded by their peers.
            let clientPort = TestSocket.localPort(client)
            // Of the sockets peered with the echo port, only the relay's is in this process
            // (the echo server's accepted socket is peered with the relay's port instead).
            let legs = tcpSockets(connectedToPort: clientPort) + tcpSockets(connectedToPort: echo.port)
            try #require(legs.count == 2, "found \(legs.count) relay legs")
            for fd in legs {
                #expect(intOption(fd, SOL_SOCKET, SO_KEEPALIVE) == 1)
                #expect(intOption(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE) == TCPKeepalive.standard.idle)
                #expect(intOption(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL) == TCPKeepalive.standard.interval)
                #expect(intOption(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT) == TCPKeepalive.standard.count)
            }
        }

        @Test("an idle timeout resets a silent connection and spares a talking one")
        func idleTimeout() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port) { $0.tcpIdleTimeout = .milliseconds(400) }
            defer { relay.stop() }
            let silent = TestSocket.connect("127.0.0.1", relay.port)
            let talking = TestSocket.connect("127.0.0.1", relay.port)
            try #require(silent >= 0 && talking >= 0)
            defer { close(silent); close(talking) }
            for fd in [silent, talking] {
                TestSocket.sendAll(fd, [1])
                try #require(TestSocket.read(fd, count: 1) == [1])
            }
            let start = monotonicNow()
            let ended = Shared<(TestSocket.ReadEnd, Double)?>(nil)
            let watcher = TestThread {
                let end = TestSocket.drain(silent).end   // blocks until the relay closes it (10 s timeout)
                ended.set((end, monotonicNow() - start))
            }
            // The talking one exchanges a byte every 100 ms for 1.2 s: three timeouts' worth.
            var exchanges = 0
            while monotonicNow() - start < 1.2 {
                usleep(100_000)
                guard TestSocket.sendAll(talking, [2]), TestSocket.read(talking, count: 1) == [2] else { break }
                exchanges += 1
            }
            watcher.join()
            let (end, after) = try #require(ended.get())
            #expect(end == .reset)
            // Reset between the timeout and timeout + sweep interval (100 ms), with room for load.
            #expect(after >= 0.4 && after < 3, "the silent connection ended after \(after) s")
            #expect(exchanges >= 10, "the talking connection was cut after \(exchanges) exchanges")
            #expect(eventually { relay.stats?.activeConnections == 1 })
        }

        @Test("a per-source limit resets one address's extra connections at once, spares others, reports once", arguments: [1, 2])
        func perSourceLimit(loops: Int) throws {
            let echo = EchoServer(host: "0.0.0.0")
            defer { echo.stop() }
            let log = EventLog()
            let relay = try RunningRelay(listen: "0.0.0.0", targetPort: echo.port, loops: loops, events: log) { $0.perSourceLimit = 2 }
            defer { relay.stop() }
            /// A connection from `source` that got its echo (nil if it was refused).
            func connection(from source: String) -> Int32? {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                TestSocket.setTimeouts(fd, seconds: 5)
                _ = TestSocket.withAddress(source, 0) { bind(fd, $0, $1) }
                guard TestSocket.withAddress("127.0.0.1", relay.port, { connect(fd, $0, $1) }) == 0,
                      TestSocket.sendAll(fd, [7]), TestSocket.read(fd, count: 1) == [7] else { close(fd); return nil }
                return fd
            }
            let a1 = try #require(connection(from: "127.0.0.1"))
            let a2 = try #require(connection(from: "127.0.0.1"))
            // Five more from the same address: each refused at once (reset, not queued).
            let start = monotonicNow()
            for _ in 0..<5 { #expect(connection(from: "127.0.0.1") == nil) }
            #expect(monotonicNow() - start < 2.5, "refusals should be immediate, took \(monotonicNow() - start) s")
            // Another address still gets its share.
            let b1 = try #require(connection(from: "127.0.0.2"))
            let b2 = try #require(connection(from: "127.0.0.2"))
            #expect(eventually { relay.stats?.activeConnections == 4 })
            let source = try #require(SocketAddress("127.0.0.1", port: 0)).ip
            #expect(log.all == [.sourceLimitReached(relay.id, source: source, limit: 2)], "one event for five refusals")
            // Once 127.0.0.1 holds nothing, the episode ends with the count, and it may connect again.
            close(a1); close(a2)
            #expect(eventually { log.all.count == 2 })
            #expect(log.all.last == .sourceLimitEnded(relay.id, source: source, refused: 5))
            let a3 = try #require(connection(from: "127.0.0.1"))
            for fd in [a3, b1, b2] { close(fd) }
            #expect(relay.waitIdle())
        }
    }
}

extension NFTRelayTests.HostileUDP {
    @Test("a per-source flow limit makes a source recycle its own flows, reported once per episode")
    func perSourceFlowLimit() throws {
        let echo = UDPEchoServer()
        defer { echo.stop() }
        let log = EventLog()
        let relay = try RunningRelay(.udp, listen: "0.0.0.0", targetPort: echo.port, events: log) {
            $0.perSourceLimit = 4
            $0.udpIdleTimeout = .milliseconds(300)
        }
        defer { relay.stop() }
        let other = Self.socket("127.0.0.2")
        defer { close(other) }
        #expect(udpExchange(other, "127.0.0.1", relay.port, [1])?.0 == [1])
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for i in 0..<10 {
            let fd = Self.socket("127.0.0.1")
            sockets.append(fd)
            #expect(udpExchange(fd, "127.0.0.1", relay.port, [UInt8(i)])?.0 == [UInt8(i)])
        }
        #expect(relay.stats?.activeConnections == 5, "4 flows of 127.0.0.1 and 1 of 127.0.0.2")
        let source = try #require(SocketAddress("127.0.0.1", port: 0)).ip
        #expect(log.all == [.sourceLimitReached(relay.id, source: source, limit: 4)])
        // The flows expire (300 ms of silence): the episode ends with the number replaced.
        #expect(eventually(timeout: 5) { log.all.count == 2 })
        #expect(log.all.last == .sourceLimitEnded(relay.id, source: source, refused: 6))
    }
}
