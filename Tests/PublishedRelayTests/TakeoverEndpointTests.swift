import Testing
import SystemCalls
import Synchronization
import TestSupport
import NFTRelay
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// The takeover control endpoint (`TakeoverServer`, `TakeoverClient`) in one process, in a
/// scratch runtime directory: the sockets cross, the old side lets go only once the new side
/// confirmed, an abandoned takeover leaves it serving and ready for another. Root only (the
/// runtime directory must be root's). Loopback sockets only.
@Suite("The takeover endpoint (relay --replace's handover)", .serialized,
       // Off only for a developer without root; in CI (root) it always runs, and as another
       // user there it fails rather than being skipped, as the kernel suites do.
       .enabled(if: geteuid() == 0 || runningInCI, "needs root (a runtime directory of root's); run as root, e.g. sudo bash contrib/test.sh"))
struct TakeoverEndpointTests {
    final class Flag: Sendable {
        private let value = Mutex(0)
        func raise() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
        /// Waits (bounded) for at least one raise.
        func wait(seconds: Double) -> Bool {
            for _ in 0..<Int(seconds * 100) where count == 0 { usleep(10_000) }
            return count > 0
        }
    }

    static func serve(_ count: Int, in directory: String, handedOver: Flag) throws -> (TakeoverServer, [(HandedSocket, Int32)]) {
        var sockets: [(HandedSocket, Int32)] = []
        for i in 0..<count {
            let type = i % 2 == 0 ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
            let (fd, port) = try TakeoverManifestTests.bound(type, listens: type == Int32(SOCK_STREAM.rawValue))
            sockets.append((HandedSocket(proto: i % 2 == 0 ? .tcp : .udp, listen: SocketAddress("127.0.0.1", port: port)!), fd))
        }
        let handed = sockets
        // The server closes what it sent (its own duplicates, as a relay's are): ours stay.
        let server = try TakeoverServer(table: "t", directory: directory, sockets: { handed.map { ($0.0, dup($0.1)) } }, handedOver: { _ in handedOver.raise() })
        try server.start()
        return (server, sockets)
    }

    @Test("the running side's sockets arrive checked and named; it lets go only after the confirmation")
    func handover() throws {
        let scratch = try SmallServerTests.Scratch()
        defer { scratch.remove() }
        let flag = Flag()
        let (server, sockets) = try Self.serve(2, in: scratch.path, handedOver: flag)
        defer { server.stop(); for (_, fd) in sockets { close(fd) } }
        let taken = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
        #expect(taken.sockets.map(\.0) == sockets.map(\.0))
        usleep(100_000)
        #expect(flag.count == 0, "let go before the new side confirmed")
        try taken.confirm()
        #expect(flag.wait(seconds: 2))
        // The received listener is the running one's: a client of its port is accepted here.
        let port = taken.sockets[0].0.listen.port
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client); for (_, fd) in taken.sockets { close(fd) } }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(rc == 0)
        #expect(DescriptorPassingTests.readable(taken.sockets[0].1))
    }

    @Test("no endpoint: nothing to take over (--replace just starts)")
    func nobody() throws {
        let scratch = try SmallServerTests.Scratch()
        defer { scratch.remove() }
        #expect(try TakeoverClient.take(table: "t", directory: scratch.path) == nil)
    }

    @Test("an abandoned takeover leaves the running side serving, and a later one succeeds")
    func abandoned() throws {
        let scratch = try SmallServerTests.Scratch()
        defer { scratch.remove() }
        let flag = Flag()
        let (server, sockets) = try Self.serve(2, in: scratch.path, handedOver: flag)
        defer { server.stop(); for (_, fd) in sockets { close(fd) } }
        let first = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
        first.abandon()
        usleep(100_000)
        #expect(flag.count == 0)
        let second = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
        try second.confirm()
        second.abandon()   // closes our copies (the connection is closed by confirm already)
        #expect(flag.wait(seconds: 2))
        #expect(flag.count == 1)
    }

    @Test("more sockets than one message carries arrive in several, all of them")
    func manySockets() throws {
        let scratch = try SmallServerTests.Scratch()
        defer { scratch.remove() }
        let flag = Flag()
        let (server, sockets) = try Self.serve(DescriptorPassing.maxPerMessage + 40, in: scratch.path, handedOver: flag)
        defer { server.stop(); for (_, fd) in sockets { close(fd) } }
        let taken = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
        defer { taken.abandon() }
        #expect(taken.sockets.count == sockets.count)
        #expect(taken.sockets.map(\.0) == sockets.map(\.0))
    }

    @Test("flows cross with their listener; a flow whose descriptor is not connected to its line's target fails the whole takeover, and the running side serves on")
    func flows() throws {
        let scratch = try SmallServerTests.Scratch()
        defer { scratch.remove() }
        let (listener, port) = try TakeoverManifestTests.bound(Int32(SOCK_DGRAM.rawValue), listens: false)
        let (target, targetPort) = try TakeoverManifestTests.bound(Int32(SOCK_DGRAM.rawValue), listens: false)
        let flowSocket = try TakeoverManifestTests.connectedUDP(to: targetPort)
        defer { for fd in [listener, target, flowSocket] { close(fd) } }
        let listen = "127.0.0.1:\(port)"
        let good = [(Self.socketLine(.udp, listen), listener),
                    (TakeoverManifestTests.flow(listen, target: "127.0.0.1:\(targetPort)", client: "127.0.0.1:40000", local: "127.0.0.1", ifindex: 1), flowSocket)]
        // The same descriptor said to be connected to another port of the target's host.
        let hostile = [good[0], (TakeoverManifestTests.flow(listen, target: "127.0.0.1:\(targetPort &+ 1)", client: "127.0.0.1:40000", local: nil), flowSocket)]
        for (handed, expectTaken) in [(good, true), (hostile, false)] {
            let flag = Flag()
            let server = try TakeoverServer(table: "t", directory: scratch.path, sockets: { handed.map { ($0.0, dup($0.1)) } }, handedOver: { _ in flag.raise() })
            try server.start()
            defer { server.stop() }
            if expectTaken {
                let taken = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
                #expect(taken.sockets.map(\.0) == handed.map(\.0))
                taken.abandon()
            } else {
                #expect(throws: TakeoverClient.Failure.self) { _ = try TakeoverClient.take(table: "t", directory: scratch.path) }
                usleep(100_000)
                #expect(flag.count == 0, "the running side let go after a refused handover")
            }
        }
    }

    static func socketLine(_ proto: ListenerSpec.TransportProtocol, _ listen: String) -> HandedSocket {
        HandedSocket(proto: proto, listen: SocketAddress(parsing: listen)!)
    }

    @Test("another user reaching the endpoint (its mode opened) gets no descriptor and takes nothing over")
    func otherUserGetsNothing() throws {
        let scratch = try SmallServerTests.Scratch(mode: "0711")
        defer { scratch.remove() }
        let flag = Flag()
        let (server, sockets) = try Self.serve(2, in: scratch.path, handedOver: flag)
        defer { server.stop(); for (_, fd) in sockets { close(fd) } }
        var st = stat()
        #expect(lstat(server.path, &st) == 0 && st.st_mode & 0o7777 == 0o600 && st.st_uid == 0)
        try Command.check(["chmod", "0666", server.path])
        let ask = """
            import array, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(sys.argv[1])
            s.settimeout(5)
            fds = array.array("i")
            try:
                s.send(b"nftfwd-takeover request 60\\n")
                msg, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * fds.itemsize))
            except (BrokenPipeError, ConnectionResetError):  # closed on us, before or after our request
                msg, anc = b"", []
            print("connected, got %d bytes and %d control messages" % (len(msg), len(anc)))
            """
        let other = Command.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                 "/usr/bin/python3", "-c", ask, server.path], timeout: 20)
        #expect(other.stdout == "connected, got 0 bytes and 0 control messages\n", "\(other)")
        #expect(flag.count == 0)
        // Root still can.
        let taken = try #require(try TakeoverClient.take(table: "t", directory: scratch.path))
        taken.abandon()
    }
}
