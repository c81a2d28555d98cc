#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress
import Synchronization

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

            // 3,000 flows from 127.0.0.1, one port each, one datagram each, sent in rounds of
            // 100 whose last datagram is awaited (from a flood port too): the relay has then
            // processed the round, so the listener's receive buffer never overflows, which on a
            // loaded machine dropped datagrams (the flood, and the exchange that should end it).
            let flood = 3000
            var lastAnswered = true
            for round in 0..<(flood / 100) {
                for i in 0..<99 {
                    let fd = Self.socket("127.0.0.1")
                    _ = [UInt8((round + i) & 0xff)].withUnsafeBytes { raw in
                        TestSocket.withAddress("127.0.0.1", relay.port) { sendto(fd, raw.baseAddress, raw.count, 0, $0, $1) }
                    }
                    close(fd)
                }
                var answered = false
                for _ in 0..<5 where !answered {   // a datagram may still be lost: a new port tries again
                    let fd = Self.socket("127.0.0.1")
                    answered = udpExchange(fd, "127.0.0.1", relay.port, [0xff])?.0 == [0xff]
                    close(fd)
                }
                lastAnswered = lastAnswered && answered
            }
            #expect(lastAnswered, "a round of the flood was never answered")
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

/// A redirect listener's lookups of original destinations, counted; every answer is `answer`.
final class CountingDestinations: DatagramDestinations {
    let answer: SocketAddress
    private let count = Mutex(0)
    init(_ answer: SocketAddress) { self.answer = answer }
    var lookups: Int { count.withLock { $0 } }
    func originalDestination(client: SocketAddress, redirectedTo local: SocketAddress) -> SocketAddress? {
        count.withLock { $0 += 1 }
        return answer
    }
}

extension NFTRelayTests.HostileUDP {
    @Test("a redirected client the allow-list refuses costs one destination lookup, not one per datagram, until the routes change")
    func refusedRedirectClientIsNotLookedUpPerDatagram() throws {
        let echo = UDPEchoServer()
        defer { echo.stop() }
        let published = try #require(SocketAddress("127.0.0.1", port: 9000))
        let destinations = CountingDestinations(published)
        let routes = RedirectRoutes(destinations: destinations)
        let onlyTen = Subnet(network: IPAddress("10.0.0.0")!, prefixLength: 8)
        routes.replace(with: [.init(listen: published.ip, ports: 9000...9000, target: published.ip, targetFirstPort: echo.port,
                                    allowedSources: [onlyTen])])
        let relay = try RunningRelay(.udp, listen: "127.0.0.1", targetPort: echo.port) { $0.redirect = routes }
        defer { relay.stop() }
        let client = Self.socket("127.0.0.1")
        defer { close(client) }
        // One datagram at a time, each awaited as a refusal in the listener's counters, so each
        // is a batch of its own (before the memo of refusals, each asked again).
        for i in 1...20 {
            _ = [UInt8(i)].withUnsafeBytes { raw in
                TestSocket.withAddress("127.0.0.1", relay.port) { sendto(client, raw.baseAddress, raw.count, 0, $0, $1) }
            }
            #expect(eventually(timeout: 5) { relay.stats?.refusedSources == i }, "datagram \(i) not counted as refused")
        }
        #expect(destinations.lookups == 1, "\(destinations.lookups) lookups for 20 refused datagrams")
        #expect(routes.counts(listen: published.ip, first: 9000).refused == 20)

        // The routes change (the allow-list now admits loopback): the next datagram is looked up
        // again at once and served.
        let loopback = Subnet(network: IPAddress("127.0.0.0")!, prefixLength: 8)
        routes.replace(with: [.init(listen: published.ip, ports: 9000...9000, target: published.ip, targetFirstPort: echo.port,
                                    allowedSources: [loopback])])
        #expect(udpExchange(client, "127.0.0.1", relay.port, [42])?.0 == [42])
        #expect(destinations.lookups == 2)
    }
}
