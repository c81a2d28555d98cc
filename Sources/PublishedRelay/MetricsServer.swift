#if canImport(Glibc)
import Glibc
#endif
import PortForwarding

/// A minimal HTTP/1.0 endpoint for Prometheus: `GET /metrics` answers the text the `render`
/// closure returns, anything else 404. One thread, one request at a time (scrapes are seconds
/// apart), each bounded: 8 KiB of request, 2 s to send it, 2 s to take the answer.
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
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
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
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0, listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            throw .system("binding the metrics endpoint \(address)", e)
        }
        acceptor = AcceptThread(listening: fd, timeout: 2) { client in MetricsServer.answer(client, render) }
    }

    func start() throws(RelayDaemonError) { try acceptor.start() }
    func stop() { acceptor.stop() }

    private static func answer(_ client: Int32, _ render: () -> String) {
        guard let request = MetricsServer.readHead(client) else { return }
        let line = request.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let words = line.split(separator: " ")
        let response: String
        if words.count >= 2, words[0] == "GET", words[1] == "/metrics" || words[1].hasPrefix("/metrics?") {
            let body = render()
            response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n" +
                "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        } else {
            let body = "nftfwd relay: only GET /metrics is served here\n"
            response = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
        AcceptThread.sendAll(client, Array(response.utf8))
    }

    /// The request up to its blank line, or nil (timeout, too long, closed).
    static func readHead(_ client: Int32) -> String? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while bytes.count < 8192 {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            bytes += chunk[0..<n]
            let text = String(decoding: bytes, as: UTF8.self)
            if text.contains("\r\n\r\n") || text.contains("\n\n") { return text }
        }
        return nil
    }
}
