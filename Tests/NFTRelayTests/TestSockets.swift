#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import NetworkAddress

/// Blocking test sockets (the relay under test is non-blocking; the peers are kept simple).
/// Every socket has 10 s send/receive timeouts so a relay bug fails a test instead of hanging it.
enum TestSocket {
    static func sockaddr(_ host: String, _ port: UInt16) -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        withUnsafeMutableBytes(of: &storage) { raw in
            if host.contains(":") {
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                sin6.sin6_port = port.bigEndian
                inet_pton(AF_INET6, host, &sin6.sin6_addr)
                raw.storeBytes(of: sin6, as: sockaddr_in6.self)
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            } else {
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_port = port.bigEndian
                inet_pton(AF_INET, host, &sin.sin_addr)
                raw.storeBytes(of: sin, as: sockaddr_in.self)
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
        return (storage, length)
    }

    static func withAddress<T>(_ host: String, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var (storage, length) = sockaddr(host, port)
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { body($0, length) } }
    }

    static func setTimeouts(_ fd: Int32, seconds: Int = 10) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A listening TCP socket on host:port (port 0: any); returns (fd, port).
    static func listen(_ host: String = "127.0.0.1", _ port: UInt16 = 0) -> (Int32, UInt16) {
        let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, 4)
        let rc = withAddress(host, port) { bind(fd, $0, $1) }
        precondition(rc == 0, "bind \(host):\(port) failed: errno \(errno)")
        Glibc.listen(fd, 4096)
        return (fd, localPort(fd))
    }

    /// A bound UDP socket on host:port; returns (fd, port).
    static func udp(_ host: String = "127.0.0.1", _ port: UInt16 = 0) -> (Int32, UInt16) {
        let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        let rc = withAddress(host, port) { bind(fd, $0, $1) }
        precondition(rc == 0, "bind udp \(host):\(port) failed: errno \(errno)")
        setTimeouts(fd, seconds: 5)
        return (fd, localPort(fd))
    }

    static func localPort(_ fd: Int32) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return withUnsafeBytes(of: &storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// A port that nothing listens on right now (bound, then released).
    static func freePort(_ host: String = "127.0.0.1", udp: Bool = false) -> UInt16 {
        let (fd, port) = udp ? self.udp(host) : listen(host)
        close(fd)
        return port
    }

    static func accept(_ listener: Int32) -> Int32 {
        let fd = Glibc.accept(listener, nil, nil)
        if fd >= 0 { setTimeouts(fd) }
        return fd
    }

    /// Connects (blocking); returns the fd or -1.
    static func connect(_ host: String, _ port: UInt16) -> Int32 {
        let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        setTimeouts(fd)
        let rc = withAddress(host, port) { Glibc.connect(fd, $0, $1) }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, min(raw.count - offset, 1 << 20), Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    enum ReadEnd: Equatable { case eof, reset, error(Int32) }

    /// Reads until EOF or error; returns the hash, byte count and how it ended.
    static func drain(_ fd: Int32) -> (hash: UInt64, count: Int, end: ReadEnd) {
        var hash = FNV1a()
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.withUnsafeBytes { hash.add(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                total += n
                continue
            }
            if n == 0 { return (hash.value, total, .eof) }
            if errno == EINTR { continue }
            return (hash.value, total, errno == ECONNRESET ? .reset : .error(errno))
        }
    }

    /// Reads exactly `count` bytes (or fewer at EOF/error).
    static func read(_ fd: Int32, count: Int) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: count)
        while result.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count - result.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            result += buffer[0..<n]
        }
        return result
    }

    /// Closes with RST.
    static func reset(_ fd: Int32) {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }
}

/// A poll(2)-driven TCP echo server on its own thread, for many connections at once.
/// Closes a connection after echoing everything once the client half-closes or closes.
final class EchoServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let stopPipe: (Int32, Int32)
    private var thread: TestThread?
    private let openConnections = Shared(0)

    var connectionCount: Int { openConnections.get() }

    init(host: String = "127.0.0.1") {
        (listener, port) = TestSocket.listen(host)
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        stopPipe = (fds[0], fds[1])
        let listener = self.listener, stopRead = stopPipe.0, open = openConnections
        thread = TestThread {
            var clients: [Int32] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            loop: while true {
                var pfds = [pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0), pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
                pfds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                if poll(&pfds, nfds_t(pfds.count), 1000) < 0 { continue }
                if pfds[0].revents != 0 { break loop }
                if pfds[1].revents != 0 {
                    let fd = Glibc.accept(listener, nil, nil)
                    if fd >= 0 { clients.append(fd); open.set(clients.count) }
                }
                var closed: Set<Int32> = []
                for p in pfds.dropFirst(2) where p.revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if n > 0 {
                        _ = TestSocket.sendAll(p.fd, Array(buffer[0..<n]))
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        close(p.fd)
                        closed.insert(p.fd)
                    }
                }
                if !closed.isEmpty {
                    clients.removeAll { closed.contains($0) }
                    open.set(clients.count)
                }
            }
            for fd in clients { close(fd) }
            open.set(0)
        }
    }

    func stop() {
        var one: UInt8 = 1
        write(stopPipe.1, &one, 1)
        thread?.join()
        thread = nil
        close(listener)
        close(stopPipe.0)
        close(stopPipe.1)
    }
}

/// A UDP echo server on its own thread: sends every datagram back to its sender.
final class UDPEchoServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let stopping = Shared(false)
    private var thread: TestThread?
    /// Source addresses seen (as "ip:port"), to count distinct flows.
    let senders = Shared<Set<String>>([])

    init(host: String = "127.0.0.1") {
        (fd, port) = TestSocket.udp(host)
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let fd = self.fd, stopping = self.stopping, senders = self.senders
        thread = TestThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !stopping.get() {
                var from = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &length) } }
                }
                guard n >= 0 else { continue }
                if let address = SocketAddressText(from) { senders.update { _ = $0.insert(address) } }
                _ = buffer.withUnsafeBytes { raw in
                    withUnsafePointer(to: &from) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, raw.baseAddress, n, 0, $0, length) } }
                }
            }
        }
    }

    func stop() {
        stopping.set(true)
        thread?.join()
        thread = nil
        close(fd)
    }
}

/// "ip:port" of an IPv4/IPv6 sockaddr, for assertions.
func SocketAddressText(_ storage: sockaddr_storage) -> String? {
    var copy = storage
    var text = [CChar](repeating: 0, count: 64)
    return withUnsafeBytes(of: &copy) { raw -> String? in
        switch Int32(storage.ss_family) {
        case AF_INET:
            var sin = raw.load(as: sockaddr_in.self)
            inet_ntop(AF_INET, &sin.sin_addr, &text, 64)
            return "\(cText(text)):\(UInt16(bigEndian: sin.sin_port))"
        case AF_INET6:
            var sin6 = raw.load(as: sockaddr_in6.self)
            inet_ntop(AF_INET6, &sin6.sin6_addr, &text, 64)
            return "[\(cText(text))]:\(UInt16(bigEndian: sin6.sin6_port))"
        default:
            return nil
        }
    }
}

/// A NUL-terminated C buffer as a String.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
