#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import TestSupport
import Testing
import NetworkAddress

extension NFTRelayTests {
    @Suite("PROXY protocol header to the target")
    struct ProxyProtocol {
        /// (listen, client connects to, target host, v1 family word)
        static let cases: [(String, String, String, String)] = [
            ("127.0.0.1", "127.0.0.1", "127.0.0.1", "TCP4"),
            ("::1", "::1", "::1", "TCP6"),
            ("::", "::1", "127.0.0.1", "TCP6"),          // cross-family: an IPv6 client to an IPv4 target
        ]

        @Test("the target reads the client's and the listener's address and port, then the client's bytes unchanged",
              arguments: ProxyProtocolVersion.allCases, 0..<cases.count)
        func headerThenBytes(version: ProxyProtocolVersion, index: Int) throws {
            let (listen, connectTo, targetHost, word) = Self.cases[index]
            let (listener, targetPort) = TestSocket.listen(targetHost)
            defer { close(listener) }
            let relay = try RunningRelay(listen: listen, targetHost: targetHost, targetPort: targetPort) { $0.proxyProtocol = version }
            defer { relay.stop() }

            let payload = randomPayload(count: 300_000, seed: 7)
            let seen = Shared<(ParsedProxyHeader?, UInt64, Int)?>(nil)
            let server = TestThread {
                let fd = TestSocket.accept(listener)
                let header = ParsedProxyHeader.read { TestSocket.read(fd, count: $0) }
                let rest = TestSocket.drain(fd)
                seen.set((header, rest.hash, rest.count))
                close(fd)
            }
            let client = TestSocket.connect(connectTo, relay.port)
            try #require(client >= 0)
            var local = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(client, $0, &length) } }
            let clientText = try #require(SocketAddressText(local))
            #expect(TestSocket.sendAll(client, payload))
            shutdown(client, Int32(SHUT_WR))
            server.join()
            close(client)

            let (header, hash, count) = try #require(seen.get())
            let parsed = try #require(header)
            let clientAddress = connectTo   // the engine's [::] listeners are IPv6-only
            #expect(parsed.version == (version == .v1 ? 1 : 2))
            #expect(parsed.family == (version == .v1 ? word : (word == "TCP4" ? "AF_INET" : "AF_INET6")))
            #expect(parsed.sourceAddress == clientAddress)
            let port = clientText.split(separator: ":").last.flatMap { UInt16($0) }
            #expect(parsed.sourcePort == port)
            #expect(parsed.destinationAddress == clientAddress)   // loopback: the client connected to its own address
            #expect(parsed.destinationPort == relay.port)
            #expect(count == payload.count)
            #expect(hash == FNV1a.hash(payload))
        }

        @Test("v2 bytes are those of the specification's layout")
        func v2Layout() {
            let bytes = ProxyHeader.encode(.v2, source: SocketAddress("192.0.2.1", port: 0x1234)!, destination: SocketAddress("198.51.100.2", port: 80)!)
            #expect(bytes == ProxyHeader.v2Signature + [0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0x12, 0x34, 0, 80])
            let v1 = ProxyHeader.encode(.v1, source: SocketAddress("2001:db8::1", port: 5)!, destination: SocketAddress("2001:db8::2", port: 6)!)
            #expect(String(decoding: v1, as: UTF8.self) == "PROXY TCP6 2001:db8::1 2001:db8::2 5 6\r\n")
        }
    }
}
