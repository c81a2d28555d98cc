#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
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
        /// One loop thread carries a bulk stream (zeros both ways, as fast as loopback goes)
        /// and a ping-pong connection; 200 round trips are timed.
        ///
        /// Measured on a 2-core box at load 8-10 (other builds running): without a budget one
        /// `pump` call lasted up to 420 ms and the round trips had a median of 0.1 ms but a
        /// 99th percentile of 95-450 ms (a starved loop shows as runs of long round trips, not
        /// in the median); with the 1 MiB budget the 99th percentile was 19-36 ms and the
        /// longest `pump` 9-25 ms, i.e. scheduler preemptions of the relay thread, which
        /// competes with four busy test threads. Hence the bound on the 99th percentile (the
        /// two worst round trips, one or two preemptions, are let go): under 50 ms.
        @Test("a bulk stream on the one loop leaves another connection's round trips under 50 ms (99th percentile)")
        func bulkStreamDoesNotStarveTheLoop() throws {
            let zero = ZeroServer()
            defer { zero.stop() }
            let echo = EchoServer()
            defer { echo.stop() }
            let engine = try RelayEngine(loops: 1)
            let bulkID = try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: zero.port)!))
            let pingID = try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: echo.port)!))
            let bulkPort = try #require(engine.stats(for: bulkID)).boundAddress.port
            let pingPort = try #require(engine.stats(for: pingID)).boundAddress.port
            try engine.start()
            defer { engine.stop() }

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

            let ping = TestSocket.connect("127.0.0.1", pingPort)
            try #require(ping >= 0)
            defer { close(ping) }
            TestSocket.setTimeouts(ping, seconds: 2)
            var times: [Double] = []
            let before = sink.received.get()
            let deadline = monotonicNow() + 30   // bounds the test even if every ping is slow
            for i in 0..<200 where monotonicNow() < deadline {
                let start = monotonicNow()
                guard TestSocket.sendAll(ping, [UInt8(i)]), TestSocket.read(ping, count: 1) == [UInt8(i)] else { break }
                times.append(monotonicNow() - start)
            }
            let during = sink.received.get() - before
            #expect(times.count == 200, "only \(times.count) of 200 round trips completed (2 s timeout each)")
            let sorted = times.sorted()
            let median = sorted.isEmpty ? .infinity : sorted[sorted.count / 2]
            let p99 = sorted.isEmpty ? .infinity : sorted[sorted.count * 99 / 100]
            print("bulk-vs-ping: \(times.count) round trips, median \(Int(median * 1e6)) µs, p99 \(Int(p99 * 1e6)) µs, max \(Int((sorted.last ?? .infinity) * 1e6)) µs, bulk moved \(during >> 20) MiB meanwhile")
            #expect(p99 < 0.050, "99th percentile round trip \(p99 * 1000) ms while a bulk stream runs")
            #expect(during > 0, "the bulk stream must keep flowing while the pings run")
        }
    }
}
