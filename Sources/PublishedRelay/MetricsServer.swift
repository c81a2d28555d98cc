#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding
import SystemErrno

/// A minimal HTTP/1.0 endpoint for Prometheus: `GET /metrics` answers the text the `render`
/// closure returns, anything else 404. Up to 64 clients at once (`AcceptThread`), each
/// bounded: at most 8 KiB of request, and 2 s in all from accept to the answer's last byte; a
/// longer or slower request is closed unanswered. Whoever reaches the address reads every
/// relayed mapping, its port and its counters: the relay's help says so, and
/// `--metrics` takes an explicit address (nothing is served without it).
///
/// Concurrency model: a thread of its own (`AcceptThread`); `render` is called on it and must
/// be thread-safe.
public final class MetricsServer: Sendable {
    /// `127.0.0.1:9420`, `[::1]:9420`, `0.0.0.0:9420`.
    public struct Address: Sendable, Equatable, CustomStringConvertible {
        public let ip: IPAddress
        public let port: UInt16

        public static func parse(_ text: String) throws(MappingError) -> Address {
            let endpoint: Endpoint
            do { endpoint = try Endpoint.parse(text, what: "--metrics") } catch {
                throw .invalid("--metrics '\(text)': give ADDRESS:PORT, e.g. 127.0.0.1:9420 or [::1]:9420")
            }
            guard let ip = endpoint.address, endpoint.ports.isSingle else {
                throw .invalid("--metrics '\(text)': give ADDRESS:PORT, e.g. 127.0.0.1:9420 or [::1]:9420")
            }
            return Address(ip: ip, port: endpoint.ports.first)
        }

        public var description: String { "\(ip.bracketed):\(port)" }
    }

    public let address: Address
    private let acceptor: AcceptThread

    init(address: Address, render: @escaping @Sendable () -> String) throws(RelayDaemonError) {
        self.address = address
        let v6 = address.ip.family == .ipv6
        let fd: Int32
        do {
            fd = try Sockets.open(domain: v6 ? AF_INET6 : AF_INET, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            throw .system("socket", error.errno)
        }
        Sockets.setOption(fd, SOL_SOCKET, SO_REUSEADDR, value: Int32(1))
        var storage = sockaddr_storage()
        let length = withUnsafeMutableBytes(of: &storage) { raw -> socklen_t in
            if v6 {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = address.port.bigEndian
                withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyBytes(from: address.ip.bytes) }
                withUnsafeBytes(of: a) { raw.copyBytes(from: $0) }
                return socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyBytes(from: address.ip.bytes) }
            withUnsafeBytes(of: a) { raw.copyBytes(from: $0) }
            return socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let bound = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Result { () throws(SyscallError) in
                    try Sockets.bind(fd, address, length: length)
                    try Sockets.listen(fd, backlog: 16)
                }
            }
        }
        if case .failure(let error) = bound {
            Posix.close(fd)
            throw .system("binding the metrics endpoint \(address)", error.errno)
        }
        acceptor = try AcceptThread(listening: fd, exchange: .init(
            deadline: MetricsServer.deadline, requestLimit: MetricsServer.requestLimit,
            isComplete: MetricsServer.isComplete,
            answer: { request in Array(MetricsServer.answer(String(decoding: request, as: UTF8.self), render).utf8) }))
    }

    /// The whole of an exchange, from accept to the last byte of the answer: what a client that
    /// trickles its request or never reads can hold one of the server's slots for.
    static let deadline = 2.0
    /// The request line and headers; a scrape sends a few hundred bytes.
    static let requestLimit = 8192

    func start() throws(RelayDaemonError) { try acceptor.start() }
    func stop() { acceptor.stop() }

    /// True once the request's head has ended (its blank line).
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.contains("\r\n\r\n") || text.contains("\n\n")
    }

    static func answer(_ request: String, _ render: () -> String) -> String {
        let line = request.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let words = line.split(separator: " ")
        if words.count >= 2, words[0] == "GET", words[1] == "/metrics" || words[1].hasPrefix("/metrics?") {
            let body = render()
            return "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
                "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
        let body = "nftfwd relay: only GET /metrics is served here\n"
        return "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
    }
}
