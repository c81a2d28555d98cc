#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress

extension NFTRelayTests {
    @Suite("TCP relay: keepalive, idle timeout, per-source limit")
    struct HostileTCP {
        /// The client leg inherits keepalive from the listening socket at once; the target leg
        /// gets it once the connection has relayed for `TCPListener.keepaliveDelay` (1 s), so
        /// this waits for it (bounded).
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
            #expect(eventually(timeout: 10) { legs.allSatisfy { intOption($0, SOL_SOCKET, SO_KEEPALIVE) == 1 } },
                    "the target leg never got keepalive")
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
            // Reset between the timeout and timeout + sweep interval (100 ms), with room for load;
            // the lower bound is 0.3 s because the relay saw the silent one's last byte before
            // `start` was taken (a run measured 0.3998 s), and the sweep's clock is its own.
            #expect(after >= 0.3 && after < 3, "the silent connection ended after \(after) s")
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
