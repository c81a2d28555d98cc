#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress

extension NFTRelayTests {
    /// UDP flows handed from one engine to another (`duplicateFlows`, `ListenerSpec.adoptedFlows`),
    /// as `relay --replace` does between two relays: the target keeps seeing the same peers.
    /// Loopback only.
    @Suite("UDP flows handed over between engines")
    struct FlowHandover {
        /// An engine with `clients` flows through it (one exchange each), the echo target, the clients.
        /// A wildcard listener: only it asks for packet info, so only its flows carry a reply source.
        static func withFlows(_ clients: Int) throws -> (UDPEchoServer, RunningRelay, [Int32]) {
            let echo = UDPEchoServer()
            let relay = try RunningRelay(.udp, listen: "0.0.0.0", targetPort: echo.port)
            var fds: [Int32] = []
            for i in 0..<clients {
                let (client, _) = TestSocket.udp("127.0.0.1")
                TestSocket.setTimeouts(client, seconds: 5)
                fds.append(client)
                let reply = try #require(udpExchange(client, "127.0.0.1", relay.port, Array("hello \(i)".utf8)))
                #expect(reply.0 == Array("hello \(i)".utf8))
            }
            return (echo, relay, fds)
        }

        /// A second engine serving `relay`'s listener socket with `flows`, after which `relay`
        /// lets go of both (as the old relay does at the confirmation).
        static func successor(of relay: RunningRelay, flows: [UDPFlowHandover], limit: Int? = nil) throws -> (RelayEngine, ListenerID) {
            let (_, listenerFD) = try #require(relay.engine.duplicateSockets().first)
            let engine = try RelayEngine()
            var spec = try #require(relay.stats).spec
            spec.preopenedFD = listenerFD
            spec.adoptedFlows = flows
            spec.connectionLimit = limit
            let id = try engine.addListener(spec)
            try engine.start()
            relay.engine.removeListener(relay.id, graceful: true)
            relay.stop()
            return (engine, id)
        }

        @Test("the successor carries every flow on: same peers at the target, every datagram answered")
        func carriedOn() throws {
            let (echo, relay, clients) = try Self.withFlows(3)
            defer { echo.stop(); for fd in clients { close(fd) } }
            let flows = relay.engine.duplicateFlows().map(\.1)
            #expect(flows.count == 3)
            #expect(Set(flows.map(\.client.port)) == Set(clients.map { TestSocket.localPort($0) }))
            #expect(flows.allSatisfy { $0.replySource == IPAddress("127.0.0.1") && $0.interfaceIndex != 0 })
            let before = echo.senders.get()
            #expect(before.count == 3)
            let (engine, id) = try Self.successor(of: relay, flows: flows)
            defer { engine.stop() }
            #expect(eventually { engine.stats(for: id)?.activeConnections == 3 })
            for round in 0..<3 {
                for (i, client) in clients.enumerated() {
                    let payload = Array("round \(round) client \(i)".utf8)
                    let reply = try #require(udpExchange(client, "127.0.0.1", relay.port, payload))
                    #expect(reply.0 == payload)
                    #expect(reply.1 == "127.0.0.1:\(relay.port)")
                }
            }
            #expect(echo.senders.get() == before, "the target saw new peers: the flows were not carried on")
            #expect(engine.stats(for: id)?.activeConnections == 3)
        }

        @Test("the successor's flow limit holds: it keeps the most recently active, closes the rest")
        func limited() throws {
            let (echo, relay, clients) = try Self.withFlows(3)
            defer { echo.stop(); for fd in clients { close(fd) } }
            // The first client becomes the most recently active.
            _ = try #require(udpExchange(clients[0], "127.0.0.1", relay.port, Array("again".utf8)))
            let flows = relay.engine.duplicateFlows().map(\.1)
            #expect(flows.count == 3)
            let before = echo.senders.get()
            let (engine, id) = try Self.successor(of: relay, flows: flows, limit: 2)
            defer { engine.stop() }
            #expect(eventually { engine.stats(for: id)?.activeConnections == 2 })
            // Clients 0 and 2 (the two most recent) keep their peers; client 1 gets a new flow.
            for client in [clients[0], clients[2]] { _ = try #require(udpExchange(client, "127.0.0.1", relay.port, Array("x".utf8))) }
            #expect(echo.senders.get() == before)
            _ = try #require(udpExchange(clients[1], "127.0.0.1", relay.port, Array("y".utf8)))
            #expect(echo.senders.get().count == 4)
        }
    }
}
