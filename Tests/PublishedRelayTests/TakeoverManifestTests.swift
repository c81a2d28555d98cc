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
        ("nftfwd-takeover 2\ntcp 0.0.0.0:80\n", 1),        // another version
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
}
