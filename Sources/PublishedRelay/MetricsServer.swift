#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding
import SystemErrno
import NetworkAddress

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
    /// `127.0.0.1:9420`, `[::1]:9420`, `0.0.0.0:9420`: the strict ADDR:PORT form with one port.
    public static func address(parsing text: String) throws(MappingError) -> SocketAddress {
        guard let address = SocketAddress(parsing: text) else {
            throw .invalid("--metrics '\(text)': give ADDRESS:PORT, e.g. 127.0.0.1:9420 or [::1]:9420")
        }
        return address
    }

    public let address: SocketAddress
    private let acceptor: AcceptThread

    init(address: SocketAddress, render: @escaping @Sendable () -> String) throws(RelayDaemonError) {
        self.address = address
        let v6 = address.ip.family == .ipv6
        let fd: Int32
        do {
            fd = try Sockets.open(domain: v6 ? AF_INET6 : AF_INET, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            throw .system("socket", error.errno)
        }
        Sockets.setOption(fd, SOL_SOCKET, SO_REUSEADDR, value: Int32(1))
        let bound = address.withSockAddr { sockaddr, length in
            Result { () throws(SyscallError) in
                try Sockets.bind(fd, sockaddr, length: length)
                try Sockets.listen(fd, backlog: 16)
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
