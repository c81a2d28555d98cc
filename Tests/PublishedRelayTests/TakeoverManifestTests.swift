import Testing
import NFTRelay
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// The text naming each handed-over socket (`TakeoverManifest`) and the receiver's check of
/// every descriptor against it: a wrong or hostile manifest is refused. Loopback only.
@Suite("The takeover manifest and its check of the descriptors")
struct TakeoverManifestTests {
    static func socket(_ proto: ListenerSpec.TransportProtocol, _ listen: String) -> HandedSocket {
        HandedSocket(proto: proto, listen: SocketAddress(parsing: listen)!)
    }

    static let flowLine = "flow udp 127.0.0.1:8053 target 198.18.2.2:9100 client 127.0.0.1:40000 scope 0 local 127.0.0.1 ifindex 1 idle 120"

    /// `flowLine` with the first `old` replaced by `new` (unchanged if absent: the line then
    /// reads, and a test expecting a refusal fails).
    static func flowLine(replacing old: String, with new: String) -> String {
        let line = flowLine
        var i = line.startIndex
        while i < line.endIndex {
            if line[i...].hasPrefix(old) { return String(line[..<i]) + new + String(line[line.index(i, offsetBy: old.count)...]) }
            i = line.index(after: i)
        }
        return line
    }

    static func flow(_ listen: String, target: String, client: String, local: String?, ifindex: Int32 = 0, idle: UInt64 = 0) -> HandedSocket {
        HandedSocket(role: .flow(HandedFlow(target: SocketAddress(parsing: target)!, client: SocketAddress(parsing: client)!,
                                            replySource: local.map { IPAddress($0)! }, interfaceIndex: ifindex, idleMilliseconds: idle)),
                     proto: .udp, listen: SocketAddress(parsing: listen)!)
    }

    /// A flow of a UDP redirect socket: its line ends with the destination its client sent to.
    static var redirectFlow: HandedSocket {
        HandedSocket(role: .flow(HandedFlow(target: SocketAddress(parsing: "198.18.2.2:9100")!, client: SocketAddress(parsing: "127.0.0.1:40002")!,
                                            replySource: IPAddress("127.0.0.1")!, interfaceIndex: 1, idleMilliseconds: 80,
                                            destination: SocketAddress(parsing: "127.0.0.5:8053")!)),
                     proto: .udp, listen: SocketAddress(parsing: "127.0.0.1:41235")!)
    }

    @Test("redirect sockets and UDP flows: version 2 lines, read back the same; ports alone stay version 1")
    func roundTripVersion2() throws {
        var scoped = Self.flow("[::]:53", target: "[fd00::2]:53", client: "[fe80::1]:5353", local: "fe80::2", ifindex: 3, idle: 86_400_000)
        if case .flow(var f) = scoped.role { f.client.scopeID = 3; scoped.role = .flow(f) }
        let sockets = [Self.socket(.tcp, "0.0.0.0:8080"),
                       HandedSocket(role: .redirect, proto: .tcp, listen: SocketAddress(parsing: "127.0.0.1:41234")!),
                       HandedSocket(role: .redirect, proto: .udp, listen: SocketAddress(parsing: "[::1]:41235")!),
                       Self.flow("127.0.0.1:8053", target: "198.18.2.2:9100", client: "127.0.0.1:40000", local: "127.0.0.1", ifindex: 1, idle: 120),
                       Self.flow("127.0.0.1:8053", target: "198.18.2.2:9100", client: "127.0.0.1:40001", local: nil),
                       scoped, Self.redirectFlow]
        let bytes = TakeoverManifest.encode(sockets)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("nftfwd-takeover 2\ntcp 0.0.0.0:8080\nredirect tcp 127.0.0.1:41234\nredirect udp [::1]:41235\n\(Self.flowLine)\n"))
        #expect(text.contains("client 127.0.0.1:40001 scope 0 local - ifindex 0 idle 0\n"))
        #expect(text.contains("client [fe80::1]:5353 scope 3 local fe80::2 ifindex 3 idle 86400000\n"))
        #expect(text.contains("client 127.0.0.1:40002 scope 0 local 127.0.0.1 ifindex 1 idle 80 destination 127.0.0.5:8053\n"))
        #expect(try TakeoverManifest.decode(bytes, descriptors: sockets.count) == sockets)
        #expect(String(decoding: TakeoverManifest.encode([Self.socket(.udp, "[::1]:53")]), as: UTF8.self) == "nftfwd-takeover 1\nudp [::1]:53\n")
    }

    @Test("messages are cut by descriptor count and by text size")
    func chunks() {
        let ports = (1...600).map { Self.socket(.tcp, "127.0.0.1:\($0)") }
        #expect(TakeoverManifest.chunks(ports, maxDescriptors: 250, maxBytes: 32 * 1024) == [0..<250, 250..<500, 500..<600])
        // Lines of the longest kind (~220 bytes): the text, not the count, cuts at ~148 lines.
        let server = "fd00:aaaa:bbbb:cccc:dddd:eeee:ffff:2"
        let flows = (1000...1399).map { Self.flow("[\(server)]:65535", target: "[fd00:aaaa:bbbb:cccc:dddd:eeee:ffff:1]:65535",
                                                client: "[fd00:1111:2222:3333:4444:5555:6666:\($0)]:65535", local: server,
                                                ifindex: 2_000_000_000, idle: 9_999_999_999) }
        let ranges = TakeoverManifest.chunks(flows, maxDescriptors: 250, maxBytes: 32 * 1024)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 400 && ranges.count > 2)
        for (a, b) in zip(ranges, ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        for range in ranges {
            #expect(range.count <= 250)
            #expect(TakeoverManifest.encode(Array(flows[range])).count <= 32 * 1024)
        }
        #expect(TakeoverManifest.chunks([], maxDescriptors: 250, maxBytes: 32 * 1024) == [])
    }

    @Test("encode then decode gives the same sockets, in order, IPv4 and IPv6")
    func roundTrip() throws {
        let sockets = [Self.socket(.tcp, "0.0.0.0:8080"), Self.socket(.udp, "[::1]:53"), Self.socket(.tcp, "[::]:443")]
        let bytes = TakeoverManifest.encode(sockets)
        #expect(String(decoding: bytes, as: UTF8.self) == "nftfwd-takeover 1\ntcp 0.0.0.0:8080\nudp [::1]:53\ntcp [::]:443\n")
        #expect(try TakeoverManifest.decode(bytes, descriptors: 3) == sockets)
        #expect(try TakeoverManifest.decode(TakeoverManifest.encode([]), descriptors: 0) == [])
    }

    @Test("malformed, hostile or miscounted manifests are refused", arguments: [
        ("nftfwd-takeover 1\ntcp 0.0.0.0:80", 1),          // no final newline
        ("nftfwd-takeover 3\ntcp 0.0.0.0:80\n", 1),        // another version
        ("nftfwd-takeover 1\nredirect tcp 127.0.0.1:80\n", 1),   // not a line of version 1
        ("nftfwd-takeover 2\nredirect tcp 127.0.0.1:80 x\n", 1),
        ("nftfwd-takeover 2\nredirect 127.0.0.1:80\n", 1),
        ("nftfwd-takeover 1\n\(TakeoverManifestTests.flowLine)\n", 1),
        // A flow line with a field missing, out of order, malformed or inconsistent:
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: " idle 120", with: ""))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "target", with: "client"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "flow udp", with: "flow tcp"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "idle 120", with: "idle 0120"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "idle 120", with: "idle -1"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "ifindex 1", with: "ifindex 99999999999"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "local 127.0.0.1", with: "local -"))\n", 1),   // ifindex without an address
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "local 127.0.0.1", with: "local ::1"))\n", 1),  // other family
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "client 127.0.0.1:40000", with: "client [::1]:40000"))\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine(replacing: "scope 0", with: "scope 2"))\n", 1),   // a scope on IPv4
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine) \n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine) destination\n", 1),
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine) destination [::1]:8053\n", 1),   // other family
        ("nftfwd-takeover 2\n\(TakeoverManifestTests.flowLine) dest 127.0.0.1:8053\n", 1),
        ("tcp 0.0.0.0:80\n", 1),                           // no version line
        ("nftfwd-takeover 1\nsctp 0.0.0.0:80\n", 1),
        ("nftfwd-takeover 1\ntcp 0.0.0.0:+80\n", 1),
        ("nftfwd-takeover 1\ntcp  0.0.0.0:80\n", 1),
        ("nftfwd-takeover 1\ntcp 0.0.0.0:80\n\n", 1),      // an empty line
        ("nftfwd-takeover 1\ntcp ::1:80\n", 1),            // IPv6 without brackets
        ("nftfwd-takeover 1\ntcp 0.0.0.0:80\n", 2),        // fewer lines than descriptors
        ("nftfwd-takeover 1\ntcp 0.0.0.0:80\nudp 0.0.0.0:80\n", 1),
    ])
    func refused(text: String, descriptors: Int) {
        #expect(throws: TakeoverManifest.Failure.self) {
            _ = try TakeoverManifest.decode(Array(text.utf8), descriptors: descriptors)
        }
    }

    /// A socket bound to 127.0.0.1 on a free port (listening when `listens`), and that port.
    static func bound(_ type: Int32, listens: Bool) throws -> (Int32, UInt16) {
        let fd = Glibc.socket(AF_INET, type, 0)
        try #require(fd >= 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(ok, "bind: errno \(errno)")
        if listens { try #require(listen(fd, 4) == 0) }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    @Test("each descriptor must be the socket its line names")
    func checkDescriptors() throws {
        let (tcp, tcpPort) = try Self.bound(Int32(SOCK_STREAM.rawValue), listens: true)
        let (idle, idlePort) = try Self.bound(Int32(SOCK_STREAM.rawValue), listens: false)
        let (udp, udpPort) = try Self.bound(Int32(SOCK_DGRAM.rawValue), listens: false)
        var pipeFDs: [Int32] = [-1, -1]
        try #require(pipe(&pipeFDs) == 0)
        defer { for fd in [tcp, idle, udp] + pipeFDs { close(fd) } }

        try TakeoverManifest.check(tcp, is: Self.socket(.tcp, "127.0.0.1:\(tcpPort)"))
        try TakeoverManifest.check(udp, is: Self.socket(.udp, "127.0.0.1:\(udpPort)"))
        let wrong: [(Int32, HandedSocket)] = [
            (tcp, Self.socket(.tcp, "127.0.0.1:\(tcpPort &+ 1)")),   // another port
            (tcp, Self.socket(.tcp, "0.0.0.0:\(tcpPort)")),          // another address
            (tcp, Self.socket(.udp, "127.0.0.1:\(tcpPort)")),        // another protocol
            (udp, Self.socket(.tcp, "127.0.0.1:\(udpPort)")),
            (idle, Self.socket(.tcp, "127.0.0.1:\(idlePort)")),      // bound but not listening
            (pipeFDs[0], Self.socket(.tcp, "127.0.0.1:\(tcpPort)")), // not a socket
        ]
        for (fd, socket) in wrong {
            #expect(throws: TakeoverManifest.Failure.self, "fd \(fd) as \(socket)") { try TakeoverManifest.check(fd, is: socket) }
        }
    }

    /// A UDP socket on 127.0.0.1 connected to 127.0.0.1:`port`.
    static func connectedUDP(to port: UInt16) throws -> Int32 {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        try #require(ok, "connect: errno \(errno)")
        return fd
    }

    @Test("a flow's descriptor must be a UDP socket connected to the flow's target: a hostile line is refused")
    func checkFlowDescriptors() throws {
        let (target, targetPort) = try Self.bound(Int32(SOCK_DGRAM.rawValue), listens: false)
        let (other, otherPort) = try Self.bound(Int32(SOCK_DGRAM.rawValue), listens: false)
        let (listening, listeningPort) = try Self.bound(Int32(SOCK_STREAM.rawValue), listens: true)
        let flowSocket = try Self.connectedUDP(to: targetPort)
        let unconnected = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let tcp = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = listeningPort.bigEndian
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(tcp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        try #require(connected)
        defer { for fd in [target, other, listening, flowSocket, unconnected, tcp] { close(fd) } }
        func line(target port: UInt16) -> HandedSocket {
            Self.flow("127.0.0.1:8053", target: "127.0.0.1:\(port)", client: "127.0.0.1:40000", local: "127.0.0.1", ifindex: 1)
        }

        try TakeoverManifest.check(flowSocket, is: line(target: targetPort))
        let wrong: [(Int32, HandedSocket, String)] = [
            (flowSocket, line(target: otherPort), "connected to another target"),
            (flowSocket, Self.flow("127.0.0.1:8053", target: "[::1]:\(targetPort)", client: "127.0.0.1:40000", local: nil), "another family"),
            (unconnected, line(target: targetPort), "not connected"),
            (target, line(target: targetPort), "bound, not connected"),
            (tcp, line(target: listeningPort), "a connected TCP socket"),
        ]
        for (fd, socket, why) in wrong {
            #expect(throws: TakeoverManifest.Failure.self, "\(why): \(socket)") { try TakeoverManifest.check(fd, is: socket) }
        }
    }
}
