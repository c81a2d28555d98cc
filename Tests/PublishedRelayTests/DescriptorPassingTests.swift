import Testing
import SystemCalls
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// SCM_RIGHTS handover of listening sockets (`DescriptorPassing`), the primitive of
/// `relay --replace`: what arrives is the same socket (its address and queue live on after the
/// sender closes its copy), oversized messages leak no descriptor. Loopback only.
@Suite("Passing listening sockets between processes (SCM_RIGHTS)")
struct DescriptorPassingTests {
    static func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0, "socketpair: errno \(errno)")
        return (fds[0], fds[1])
    }

    /// A socket of `type` bound to 127.0.0.1 on a free port (listening if TCP), and the port.
    static func loopback(_ type: Int32) throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, type, 0)
        try #require(fd >= 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(rc, "bind: errno \(errno)")
        if type == Int32(SOCK_STREAM.rawValue) { try #require(listen(fd, 16) == 0) }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    static func connectTo(_ port: UInt16, type: Int32) throws -> Int32 {
        let fd = socket(AF_INET, type, 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(rc == 0, "connect to 127.0.0.1:\(port): errno \(errno)")
        return fd
    }

    static func readable(_ fd: Int32, ms: Int32 = 2000) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, ms) == 1
    }

    /// How many descriptors of this process, other than `fds` themselves, refer to the same
    /// open sockets as `fds` (same inode). A descriptor leaked by a refused receive would be
    /// such a copy. Counting copies rather than all open descriptors keeps the check exact while
    /// other suites open and close descriptors in parallel.
    static func copies(of fds: [Int32]) -> Int {
        func inode(_ fd: Int32) -> ino_t? {
            var st = stat()
            return fstat(fd, &st) == 0 ? st.st_ino : nil
        }
        let wanted = Set(fds.compactMap(inode))
        guard let dir = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var n = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd != own, !fds.contains(fd), let ino = inode(fd) else { continue }
            if wanted.contains(ino) { n += 1 }
        }
        return n
    }

    @Test("the received TCP and UDP sockets are the sender's: they serve after the sender closed its copies")
    func sameSockets() throws {
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        let (tcp, tcpPort) = try Self.loopback(Int32(SOCK_STREAM.rawValue))
        let (udp, udpPort) = try Self.loopback(Int32(SOCK_DGRAM.rawValue))
        // A client queued before the handover must be accepted after it: the queue moves too.
        let early = try Self.connectTo(tcpPort, type: Int32(SOCK_STREAM.rawValue))
        defer { close(early) }
        let payload = Array("tcp 127.0.0.1:\(tcpPort)\nudp 127.0.0.1:\(udpPort)\n".utf8)
        try DescriptorPassing.send([tcp, udp], payload: payload, over: a)
        close(tcp)
        close(udp)
        let got = try DescriptorPassing.receive(over: b, maxPayload: 4096, maxDescriptors: 8)
        #expect(got.payload == payload)
        try #require(got.fds.count == 2)
        defer { for fd in got.fds { close(fd) } }
        #expect(fcntl(got.fds[0], F_GETFD) & FD_CLOEXEC != 0)

        let late = try Self.connectTo(tcpPort, type: Int32(SOCK_STREAM.rawValue))
        defer { close(late) }
        for _ in 0..<2 {
            try #require(Self.readable(got.fds[0]), "no connection to accept on the received listener")
            let c = accept(got.fds[0], nil, nil)
            #expect(c >= 0)
            close(c)
        }

        let client = try Self.connectTo(udpPort, type: Int32(SOCK_DGRAM.rawValue))
        defer { close(client) }
        var ping: [UInt8] = Array("ping".utf8)
        #expect(send(client, &ping, ping.count, 0) == 4)
        try #require(Self.readable(got.fds[1]), "no datagram on the received UDP socket")
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(recv(got.fds[1], &buffer, buffer.count, 0) == 4)
        #expect(Array(buffer[0..<4]) == ping)
    }

    @Test("more descriptors than the receiver allows: refused, and none of them stays open")
    func oversizedLeaksNothing() throws {
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        var sent: [Int32] = []
        for _ in 0..<6 { sent.append(try Self.loopback(Int32(SOCK_STREAM.rawValue)).0) }
        defer { for fd in sent { close(fd) } }
        #expect(Self.copies(of: sent) == 0)
        try DescriptorPassing.send(sent, payload: [1], over: a)
        #expect(throws: DescriptorPassing.Failure.truncated) {
            _ = try DescriptorPassing.receive(over: b, maxPayload: 16, maxDescriptors: 2)
        }
        #expect(Self.copies(of: sent) == 0)
    }

    @Test("a longer payload than allowed is refused the same way")
    func oversizedPayload() throws {
        let (a, b) = try Self.pair()
        defer { close(a); close(b) }
        let (tcp, _) = try Self.loopback(Int32(SOCK_STREAM.rawValue))
        defer { close(tcp) }
        #expect(Self.copies(of: [tcp]) == 0)
        try DescriptorPassing.send([tcp], payload: [UInt8](repeating: 7, count: 100), over: a)
        #expect(throws: DescriptorPassing.Failure.truncated) {
            _ = try DescriptorPassing.receive(over: b, maxPayload: 10, maxDescriptors: 4)
        }
        #expect(Self.copies(of: [tcp]) == 0)
    }

    @Test("the peer gone without a message, and too many descriptors for one message, are errors")
    func closedAndTooMany() throws {
        let (a, b) = try Self.pair()
        close(a)
        defer { close(b) }
        #expect(throws: DescriptorPassing.Failure.closed) {
            _ = try DescriptorPassing.receive(over: b, maxPayload: 16, maxDescriptors: 2)
        }
        #expect(throws: DescriptorPassing.Failure.tooMany(DescriptorPassing.maxPerMessage + 1)) {
            try DescriptorPassing.send(Array(repeating: 0, count: DescriptorPassing.maxPerMessage + 1), payload: [1], over: b)
        }
    }
}
