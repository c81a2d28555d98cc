#if canImport(Glibc)
import Glibc
#endif
@testable import NFTRelay
import Testing
import NetworkAddress

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
        /// and a ping-pong connection; 200 round trips, spread over a second or more of the
        /// stream, are timed in wall time and in the loop thread's CPU time.
        ///
        /// The pinging thread (which also plays the ping's target, so no third thread has to
        /// wake) runs at nice -20 where allowed, so it answers as soon as its bytes arrive;
        /// the loop and the bulk threads keep the normal priority. On the 2-core box at load
        /// 10-17 (other builds) the median round trip stays low with and without the budget
        /// (0.1-8 ms): what a starved loop changes is the tail, and whether the bulk writers
        /// outrun the relay is decided by the load (99th percentiles of 95-450 ms without the
        /// budget in some runs, 6-40 ms in others). With it, the tail is the scheduler's (p99
        /// 27-112 ms wall while the loop's own CPU time per round trip stays under 8 ms: the
        /// loop thread waits for a core behind four busy test threads and the builds). So this
        /// test pins the median (under 50 ms, as the issue asks: a woken thread on a busy
        /// 2-core box runs within milliseconds) and that every round trip completes within 2 s,
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
                    usleep(5_000)   // spreads the pings over a second or more, all of it with the stream running
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
            func ms(_ value: Double) -> String { "\(Double(Int(value * 1e4)) / 10) ms" }
            print("bulk-vs-ping: \(samples.count) round trips; wall median \(ms(wall.median)), p99 \(ms(wall.p99)), max \(ms(wall.max)); loop CPU median \(ms(cpu.median)), p99 \(ms(cpu.p99)), max \(ms(cpu.max)); bulk moved \(during >> 20) MiB meanwhile")
            #expect(wall.median < 0.050, "median round trip \(wall.median * 1000) ms while a bulk stream runs")
            #expect(during > 0, "the bulk stream must keep flowing while the pings run")
        }
    }
}
