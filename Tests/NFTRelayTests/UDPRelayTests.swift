#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress

/// Sends `payload` from `fd` to host:port and waits (bounded) for one reply; returns the
/// reply and its source ("ip:port").
func udpExchange(_ fd: Int32, _ host: String, _ port: UInt16, _ payload: [UInt8]) -> ([UInt8], String)? {
    let sent = payload.withUnsafeBytes { raw in
        TestSocket.withAddress(host, port) { sendto(fd, raw.baseAddress, raw.count, 0, $0, $1) }
    }
    guard sent == payload.count else { return nil }
    var buffer = [UInt8](repeating: 0, count: 65536)
    var from = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let n = buffer.withUnsafeMutableBytes { raw in
        withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) } }
    }
    guard n >= 0, let source = SocketAddressText(from) else { return nil }
    return (Array(buffer[0..<n]), source)
}

extension NFTRelayTests {
    @Suite("UDP relay over loopback")
    struct UDP {
        @Test("datagrams go both ways, and replies come from the address the client used")
        func replySourceAddress() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, listen: "0.0.0.0", targetPort: echo.port)
            defer { relay.stop() }
            let (client, _) = TestSocket.udp("127.0.0.1")
            defer { close(client) }
            for host in ["127.0.0.2", "127.0.0.1", "127.0.0.3"] {
                let payload = randomPayload(count: 1400, seed: UInt64(host.utf8.last!))
                let reply = try #require(udpExchange(client, host, relay.port, payload))
                #expect(reply.0 == payload)
                #expect(reply.1 == "\(host):\(relay.port)", "reply came from \(reply.1)")
            }
            #expect(relay.stats?.activeConnections == 1, "one client port is one flow")
        }

        @Test("a listener bound to one address (no packet info asked) replies from it, IPv4 and IPv6")
        func boundListenerReplySource() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            for (listen, shown) in [("127.0.0.2", "127.0.0.2"), ("::1", "[::1]")] {
                let relay = try RunningRelay(.udp, listen: listen, targetPort: echo.port)
                defer { relay.stop() }
                let (client, _) = TestSocket.udp(listen == "::1" ? "::1" : "127.0.0.1")
                defer { close(client) }
                for round in 0..<2 {
                    let payload = Array("bound \(listen) \(round)".utf8)
                    let reply = try #require(udpExchange(client, listen, relay.port, payload))
                    #expect(reply.0 == payload)
                    #expect(reply.1 == "\(shown):\(relay.port)", "reply came from \(reply.1)")
                }
            }
        }

        @Test("IPv6 wildcard listener replies from ::1 and relays to an IPv4 target")
        func ipv6Listener() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, listen: "::", targetPort: echo.port)
            defer { relay.stop() }
            let (client, _) = TestSocket.udp("::1")
            defer { close(client) }
            let reply = try #require(udpExchange(client, "::1", relay.port, Array("v6".utf8)))
            #expect(reply.0 == Array("v6".utf8))
            #expect(reply.1 == "[::1]:\(relay.port)")
        }

        @Test("idle flows expire")
        func flowExpiry() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, targetPort: echo.port) { $0.udpIdleTimeout = .milliseconds(300) }
            defer { relay.stop() }
            let (client, _) = TestSocket.udp()
            defer { close(client) }
            #expect(udpExchange(client, "127.0.0.1", relay.port, [1]) != nil)
            #expect(relay.stats?.activeConnections == 1)
            let start = monotonicNow()
            #expect(eventually(timeout: 3) { relay.stats?.activeConnections == 0 })
            #expect(monotonicNow() - start >= 0.2, "expired too early")
            // The client can come back: a new flow.
            #expect(udpExchange(client, "127.0.0.1", relay.port, [2])?.0 == [2])
            #expect(relay.stats?.totalConnections == 2)
        }

        @Test("the flow table is bounded: the least recently active flow is evicted")
        func flowEviction() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, targetPort: echo.port) { $0.connectionLimit = 4 }
            defer { relay.stop() }
            var clients: [Int32] = []
            defer { for fd in clients { close(fd) } }
            for i in 0..<6 {
                let (fd, _) = TestSocket.udp()
                clients.append(fd)
                #expect(udpExchange(fd, "127.0.0.1", relay.port, [UInt8(i)])?.0 == [UInt8(i)])
                #expect((relay.stats?.activeConnections ?? 99) <= 4)
            }
            #expect(relay.stats?.activeConnections == 4)
            #expect(relay.stats?.totalConnections == 6)
            // Client 5 is recent: still its flow. Client 0 was evicted: a new flow.
            #expect(udpExchange(clients[5], "127.0.0.1", relay.port, [55])?.0 == [55])
            #expect(relay.stats?.totalConnections == 6)
            #expect(udpExchange(clients[0], "127.0.0.1", relay.port, [50])?.0 == [50])
            #expect(relay.stats?.totalConnections == 7)
            #expect(relay.stats?.activeConnections == 4)
        }

        @Test("a fast stream from one client keeps datagram boundaries (batched, GSO) both ways")
        func streamBoundaries() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, targetPort: echo.port)
            defer { relay.stop() }
            let (client, _) = TestSocket.udp()
            defer { close(client) }
            var big: Int32 = 4 << 20
            setsockopt(client, SOL_SOCKET, SO_RCVBUF, &big, 4)
            // Sizes cycle so runs of equal sizes end in shorter ones, as GSO groups must.
            let sizes = [1400, 1400, 1400, 700, 1400, 1, 9000, 9000, 1400]
            func datagram(_ seq: Int) -> [UInt8] {
                let size = sizes[seq % sizes.count]
                return (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ seq &* 7) }
            }
            var received: [Int: Bool] = [:]
            for burst in 0..<4 {
                for i in 0..<60 {
                    let payload = datagram(burst * 60 + i)
                    _ = payload.withUnsafeBytes { raw in
                        TestSocket.withAddress("127.0.0.1", relay.port) { sendto(client, raw.baseAddress, raw.count, 0, $0, $1) }
                    }
                }
                var buffer = [UInt8](repeating: 0, count: 65536)
                for _ in 0..<60 {
                    let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                    guard n > 0 else { break }
                    // Identify the datagram by size and first byte, then compare all of it.
                    let match = (burst * 60..<(burst + 1) * 60).first { seq in
                        received[seq] == nil && sizes[seq % sizes.count] == n && datagram(seq) == Array(buffer[0..<n])
                    }
                    if let match { received[match] = true }
                }
            }
            #expect(received.count == 240, "got \(received.count) of 240 datagrams intact")
        }

        @Test("a burst of datagrams from many clients is relayed")
        func burst() throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            let relay = try RunningRelay(.udp, targetPort: echo.port)
            defer { relay.stop() }
            var clients: [Int32] = []
            defer { for fd in clients { close(fd) } }
            for _ in 0..<20 { clients.append(TestSocket.udp().0) }
            var answered = 0
            for round in 0..<10 {
                for (i, fd) in clients.enumerated() {
                    if udpExchange(fd, "127.0.0.1", relay.port, [UInt8(round), UInt8(i)])?.0 == [UInt8(round), UInt8(i)] { answered += 1 }
                }
            }
            #expect(answered == 200)
            #expect(relay.stats?.activeConnections == 20)
        }
    }
}
