#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress

/// One suite for everything, serialized: the fd-count test must not see other tests' sockets.
@Suite("NFTRelay", .serialized)
struct NFTRelayTests {}

extension NFTRelayTests {
    @Suite("TCP relay over loopback")
    struct TCP {
        @Test("several MB both ways at once arrive byte-exact", arguments: [1, 2])
        func largePayloadsBothWays(loops: Int) throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort, loops: loops)
            defer { relay.stop() }

            let up = randomPayload(count: 8 << 20, seed: 1)
            let down = randomPayload(count: 6 << 20 + 12345, seed: 2)
            let serverGot = Shared<(UInt64, Int, TestSocket.ReadEnd)?>(nil)
            let server = TestThread {
                let fd = TestSocket.accept(listener)
                let sender = TestThread { TestSocket.sendAll(fd, down); shutdown(fd, Int32(SHUT_WR)) }
                serverGot.set(TestSocket.drain(fd))
                sender.join()
                close(fd)
            }
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let sender = TestThread { TestSocket.sendAll(client, up); shutdown(client, Int32(SHUT_WR)) }
            let clientGot = TestSocket.drain(client)
            sender.join()
            server.join()
            close(client)

            #expect(clientGot.count == down.count)
            #expect(clientGot.hash == FNV1a.hash(down))
            #expect(clientGot.end == .eof)
            let got = try #require(serverGot.get())
            #expect(got.1 == up.count)
            #expect(got.0 == FNV1a.hash(up))
            #expect(got.2 == .eof)
            #expect(relay.waitIdle())
        }

        @Test("client half-close reaches the target, and the reply still comes back")
        func clientHalfClose() throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort)
            defer { relay.stop() }

            let serverSaw = Shared<(Int, TestSocket.ReadEnd)?>(nil)
            let server = TestThread {
                let fd = TestSocket.accept(listener)
                let got = TestSocket.drain(fd)          // returns only at the client's FIN
                serverSaw.set((got.count, got.end))
                TestSocket.sendAll(fd, Array("pong".utf8))
                close(fd)
            }
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            TestSocket.sendAll(client, Array("ping".utf8))
            shutdown(client, Int32(SHUT_WR))
            let reply = TestSocket.read(client, count: 4)
            let rest = TestSocket.drain(client)
            server.join()
            close(client)
            #expect(serverSaw.get()?.0 == 4)
            #expect(serverSaw.get()?.1 == .eof)
            #expect(reply == Array("pong".utf8))
            #expect(rest.count == 0 && rest.end == .eof)
            #expect(relay.waitIdle())
        }

        // A read stops short at an urgent mark: the relay may take a short read for the end of
        // the bytes before a FIN only when no urgent data is pending (EPOLLPRI). The second
        // client's bytes, urgent byte and FIN all wait in the kernel while the relay is at its
        // connection limit, so its first event reports all of them at once.
        @Test("bytes after an urgent byte that came with the FIN are still relayed")
        func urgentByteBeforeFIN() throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort) { $0.connectionLimit = 1 }
            defer { relay.stop() }

            let serverGot = Shared<[UInt8]?>(nil)
            let server = TestThread {
                let first = TestSocket.accept(listener)
                _ = TestSocket.drain(first)
                close(first)
                let second = TestSocket.accept(listener)
                var bytes: [UInt8] = []
                while true {
                    let chunk = TestSocket.read(second, count: 1)
                    if chunk.isEmpty { break }
                    bytes += chunk
                }
                serverGot.set(bytes)
                close(second)
            }
            let holder = TestSocket.connect("127.0.0.1", relay.port)
            try #require(holder >= 0)
            #expect(eventually { relay.stats?.activeConnections == 1 })
            let client = TestSocket.connect("127.0.0.1", relay.port)   // waits in the backlog
            try #require(client >= 0)
            TestSocket.sendAll(client, Array("abc".utf8))
            var urgent: UInt8 = UInt8(ascii: "X")
            #expect(send(client, &urgent, 1, Int32(MSG_OOB)) == 1)
            TestSocket.sendAll(client, Array("def".utf8))
            shutdown(client, Int32(SHUT_WR))
            close(holder)   // the relay accepts the waiting client now
            server.join()
            close(client)
            // The urgent byte is not relayed (out of band); every other byte is.
            #expect(serverGot.get() == Array("abcdef".utf8))
            #expect(relay.waitIdle())
        }

        @Test("target half-close reaches the client, and the client can still send")
        func targetHalfClose() throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort)
            defer { relay.stop() }

            let serverGot = Shared<(Int, TestSocket.ReadEnd)?>(nil)
            let server = TestThread {
                let fd = TestSocket.accept(listener)
                TestSocket.sendAll(fd, Array("hello".utf8))
                shutdown(fd, Int32(SHUT_WR))
                let got = TestSocket.drain(fd)
                serverGot.set((got.count, got.end))
                close(fd)
            }
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let greeting = TestSocket.drain(client)     // hello, then EOF
            TestSocket.sendAll(client, Array("goodbye".utf8))
            shutdown(client, Int32(SHUT_WR))
            server.join()
            close(client)
            #expect(greeting.count == 5 && greeting.end == .eof)
            #expect(serverGot.get()?.0 == 7)
            #expect(serverGot.get()?.1 == .eof)
            #expect(relay.waitIdle())
        }

        @Test("a reset on either side resets the other (client resets: true, target resets: false)", arguments: [true, false])
        func resetPropagates(clientResets: Bool) throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort)
            defer { relay.stop() }

            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let server = TestSocket.accept(listener)
            try #require(server >= 0)
            // Make sure the relay is past connecting: one byte each way.
            TestSocket.sendAll(client, [1])
            #expect(TestSocket.read(server, count: 1) == [1])
            TestSocket.sendAll(server, [2])
            #expect(TestSocket.read(client, count: 1) == [2])

            let (resetter, observer) = clientResets ? (client, server) : (server, client)
            let start = monotonicNow()
            TestSocket.reset(resetter)
            let seen = TestSocket.drain(observer)
            close(observer)
            #expect(seen.end == .reset, "the other side saw \(seen.end), not a reset")
            #expect(monotonicNow() - start < 2)
            #expect(relay.waitIdle())
        }

        @Test("a refused target resets the client promptly")
        func refusedTarget() throws {
            let relay = try RunningRelay(targetPort: TestSocket.freePort())
            defer { relay.stop() }
            let start = monotonicNow()
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let seen = TestSocket.drain(client)
            close(client)
            #expect(seen.count == 0)
            #expect(seen.end == .reset)
            #expect(monotonicNow() - start < 1)
            #expect(relay.waitIdle())
        }

        @Test("a target that never answers the connect is given up after the timeout")
        func connectTimeout() throws {
            // A listener with backlog 0 whose queue is full drops further SYNs: connects hang.
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            Glibc.listen(listener, 0)
            var fillers: [Int32] = []
            defer { for fd in fillers { close(fd) } }
            for _ in 0..<4 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                _ = TestSocket.withAddress("127.0.0.1", targetPort) { Glibc.connect(fd, $0, $1) }
                fillers.append(fd)
            }
            // Wait (bounded) until the first filler sits in the accept queue.
            var ready = pollfd(fd: fillers[0], events: Int16(POLLOUT), revents: 0)
            #expect(poll(&ready, 1, 2000) == 1)
            let relay = try RunningRelay(targetPort: targetPort) { $0.connectTimeout = .milliseconds(400) }
            defer { relay.stop() }
            let start = monotonicNow()
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let seen = TestSocket.drain(client)
            close(client)
            let elapsed = monotonicNow() - start
            #expect(seen.count == 0)
            #expect(seen.end == .reset)
            #expect(elapsed >= 0.35 && elapsed < 3, "gave up after \(elapsed) s")
            #expect(relay.waitIdle())
        }

        @Test("a client that stops reading stalls only its own connection")
        func slowReaderDoesNotBlockOthers() throws {
            let (listener, targetPort) = TestSocket.listen()
            defer { close(listener) }
            let relay = try RunningRelay(targetPort: targetPort)
            defer { relay.stop() }

            // Connection 1: the target floods, the client never reads.
            let stalled = TestSocket.connect("127.0.0.1", relay.port)
            try #require(stalled >= 0)
            let flooder = TestSocket.accept(listener)
            try #require(flooder >= 0)
            var nonBlocking = fcntl(flooder, F_GETFL)
            nonBlocking |= O_NONBLOCK
            _ = fcntl(flooder, F_SETFL, nonBlocking)
            let chunk = [UInt8](repeating: 0xAB, count: 1 << 16)
            var flooded = 0
            // Write until every buffer on the way (client, relay pipe, target) is full.
            let floodDeadline = monotonicNow() + 5
            var idleRounds = 0
            while monotonicNow() < floodDeadline && idleRounds < 20 {
                let n = chunk.withUnsafeBytes { send(flooder, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 { flooded += n; idleRounds = 0 } else { idleRounds += 1; usleep(5_000) }
            }
            #expect(flooded > 1 << 20, "the flood should fill several buffers (\(flooded) bytes)")
            #expect(flooded < 256 << 20, "the relay must not buffer without bound (\(flooded) bytes)")

            // Connection 2 works normally meanwhile.
            let start = monotonicNow()
            let client = TestSocket.connect("127.0.0.1", relay.port)
            try #require(client >= 0)
            let server = TestSocket.accept(listener)
            try #require(server >= 0)
            TestSocket.sendAll(client, Array("still here".utf8))
            #expect(TestSocket.read(server, count: 10) == Array("still here".utf8))
            TestSocket.sendAll(server, Array("yes".utf8))
            #expect(TestSocket.read(client, count: 3) == Array("yes".utf8))
            #expect(monotonicNow() - start < 1)
            for fd in [client, server, stalled, flooder] { close(fd) }
            #expect(relay.waitIdle())
        }

        @Test("1,000 concurrent connections all relay", arguments: [1, 2])
        func thousandConcurrent(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops)
            defer { relay.stop() }

            var clients: [Int32] = []
            defer { for fd in clients { close(fd) } }
            for _ in 0..<1000 {
                let fd = TestSocket.connect("127.0.0.1", relay.port)
                try #require(fd >= 0, "connect failed: errno \(errno)")
                clients.append(fd)
            }
            #expect(eventually(timeout: 10) { relay.stats?.activeConnections == 1000 })
            for (i, fd) in clients.enumerated() { TestSocket.sendAll(fd, Array("c\(i % 10)".utf8)) }
            var good = 0
            for (i, fd) in clients.enumerated() where TestSocket.read(fd, count: 2) == Array("c\(i % 10)".utf8) { good += 1 }
            #expect(good == 1000)
            for fd in clients { close(fd) }
            clients.removeAll()
            #expect(relay.waitIdle(timeout: 10))
            #expect(relay.stats?.totalConnections == 1000)
        }

        @Test("the connection limit holds further clients back until one leaves", arguments: [1, 2])
        func connectionLimit(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops) { $0.connectionLimit = 2 }
            defer { relay.stop() }
            let a = TestSocket.connect("127.0.0.1", relay.port), b = TestSocket.connect("127.0.0.1", relay.port)
            let c = TestSocket.connect("127.0.0.1", relay.port)   // completes in the backlog
            defer { close(b); close(c) }
            for fd in [a, b, c] { TestSocket.sendAll(fd, [7]) }
            #expect(TestSocket.read(a, count: 1) == [7])
            #expect(TestSocket.read(b, count: 1) == [7])
            #expect(relay.stats?.activeConnections == 2)
            close(a)
            #expect(TestSocket.read(c, count: 1) == [7], "the third client is served once the first left")
            #expect(relay.stats?.totalConnections == 3)
        }

        @Test("no fd leaks over 10,000 sequential short connections", arguments: [1, 2])
        func noFDLeaks(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops)
            defer { relay.stop() }
            func roundTrip() -> Bool {
                let fd = TestSocket.connect("127.0.0.1", relay.port)
                guard fd >= 0 else { return false }
                defer { close(fd) }
                TestSocket.sendAll(fd, [42])
                return TestSocket.read(fd, count: 1) == [42]
            }
            // Warm up: the pipe pool creates its pipes on first use.
            for _ in 0..<5 { _ = roundTrip() }
            #expect(relay.waitIdle())
            #expect(eventually { echo.connectionCount == 0 })
            let before = openFDCount()
            var failures = 0
            for _ in 0..<10_000 where !roundTrip() { failures += 1 }
            #expect(failures == 0)
            #expect(relay.waitIdle(timeout: 10))
            #expect(eventually { echo.connectionCount == 0 })
            #expect(eventually { openFDCount() == before }, "fds before \(before), after \(openFDCount())")
            #expect(relay.stats?.totalConnections == 10_005)
        }

        @Test("stopping or dropping an engine closes every fd it opened")
        func engineLifecycleLeaksNothing() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let before = openFDCount()
            do {
                // Never started: the listener socket handed to the loop must still be closed.
                let engine = try RelayEngine()
                try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: echo.port)!))
                try engine.addListener(ListenerSpec(proto: .udp, listen: SocketAddress("127.0.0.1", port: 0)!, target: SocketAddress("127.0.0.1", port: echo.port)!))
            }
            #expect(openFDCount() == before)
            for loops in [1, 2, 3] {
                // Started, used, stopped with a connection still open.
                let relay = try RunningRelay(targetPort: echo.port, loops: loops)
                let fd = TestSocket.connect("127.0.0.1", relay.port)
                TestSocket.sendAll(fd, [5])
                #expect(TestSocket.read(fd, count: 1) == [5])
                relay.stop()
                #expect(TestSocket.drain(fd).end == .reset)
                close(fd)
            }
            #expect(eventually { echo.connectionCount == 0 })
            #expect(openFDCount() == before, "fds before \(before), after \(openFDCount())")
        }

        @Test("IPv6 listener relays to an IPv4 target")
        func ipv6ToIPv4() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(listen: "::1", targetPort: echo.port)
            defer { relay.stop() }
            let fd = TestSocket.connect("::1", relay.port)
            try #require(fd >= 0)
            defer { close(fd) }
            TestSocket.sendAll(fd, Array("six-to-four".utf8))
            #expect(TestSocket.read(fd, count: 11) == Array("six-to-four".utf8))
        }

        @Test("removing a listener closes its socket and its connections", arguments: [1, 2])
        func removeListener(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops)
            defer { relay.stop() }
            let fd = TestSocket.connect("127.0.0.1", relay.port)
            try #require(fd >= 0)
            defer { close(fd) }
            TestSocket.sendAll(fd, [1])
            #expect(TestSocket.read(fd, count: 1) == [1])
            relay.engine.removeListener(relay.id)
            #expect(TestSocket.drain(fd).end == .reset)
            #expect(eventually { TestSocket.connect("127.0.0.1", relay.port) < 0 })
            #expect(relay.engine.stats().isEmpty)
        }

        @Test("a graceful removal refuses new clients at once and lets open connections finish", arguments: [1, 2])
        func gracefulRemoval(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops)
            defer { relay.stop() }
            let fd = TestSocket.connect("127.0.0.1", relay.port)
            try #require(fd >= 0)
            defer { close(fd) }
            #expect(TestSocket.sendAll(fd, [1]))
            #expect(TestSocket.read(fd, count: 1) == [1])
            relay.engine.removeListener(relay.id, graceful: true)
            #expect(eventually { TestSocket.connect("127.0.0.1", relay.port) < 0 })
            // The open connection still relays both ways, then ends normally.
            #expect(TestSocket.sendAll(fd, [2, 3]))
            #expect(TestSocket.read(fd, count: 2) == [2, 3])
            shutdown(fd, Int32(SHUT_WR))
            #expect(TestSocket.drain(fd).end == .eof)
        }

        @Test("once removeListener returns, the address can be bound again at once", arguments: [1, 2])
        func rebindAfterRemoval(loops: Int) throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(targetPort: echo.port, loops: loops)
            defer { relay.stop() }
            let listen = SocketAddress("127.0.0.1", port: relay.port)!
            let target = SocketAddress("127.0.0.1", port: echo.port)!
            for graceful in [false, true, false] {
                let old = try #require(relay.engine.stats().first?.id)
                relay.engine.removeListener(old, graceful: graceful)
                try relay.engine.addListener(ListenerSpec(proto: .tcp, listen: listen, target: target))
            }
            let fd = TestSocket.connect("127.0.0.1", relay.port)
            try #require(fd >= 0)
            defer { close(fd) }
            #expect(TestSocket.sendAll(fd, [9]))
            #expect(TestSocket.read(fd, count: 1) == [9])
        }

        @Test("binding a port in use throws a docker-style error")
        func portInUse() throws {
            let (busy, port) = TestSocket.listen()
            defer { close(busy) }
            let engine = try RelayEngine()
            #expect {
                try engine.addListener(ListenerSpec(proto: .tcp, listen: SocketAddress("127.0.0.1", port: port)!, target: SocketAddress("127.0.0.1", port: 1)!))
            } throws: { error in
                "\(error)" == "listen tcp4 127.0.0.1:\(port): bind: address already in use"
            }
        }
    }
}
