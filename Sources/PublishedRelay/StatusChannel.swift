#if canImport(Glibc)
import Glibc
#endif
import PortForwarding

/// How `nftfwd ls` asks a running relay for its status: an abstract-namespace unix socket
/// named after the table. Abstract sockets belong to the network namespace, so relays in
/// several namespaces never collide (while /run is shared by `ip netns exec`), and nothing
/// is left on disk when a relay dies.
///
/// Protocol: connect; the relay writes its `RelayStatus` as JSON and closes.
public enum StatusChannel {
    /// The abstract name, without the leading NUL.
    public static func name(table: String) -> String { "nftfwd-relay/" + table }

    /// The status of the relay serving `table` in this network namespace, or nil if none runs.
    public static func query(table: String, timeoutMilliseconds: Int32 = 1000) -> RelayStatus? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeoutMilliseconds / 1000), tv_usec: Int(timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let (address, length) = abstractAddress(name(table: table))
        var addr = address
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard rc == 0 else { return nil }
        // Anyone in the namespace could bind the name first: believe only a relay run by
        // root or by ourselves.
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (glibc hides the name without _GNU_SOURCE)
        var cred: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var credLength = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLength) == 0,
              cred.uid == 0 || cred.uid == geteuid() else { return nil }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        guard let json = try? JSON.parse(String(decoding: bytes, as: UTF8.self)) else { return nil }
        return RelayStatus(json: json)
    }

    /// `sockaddr_un` for an abstract name: a NUL, then the name (no terminator; the length says).
    static func abstractAddress(_ name: String) -> (sockaddr_un, socklen_t) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8.prefix(106))
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw[0] = 0
            for (i, b) in bytes.enumerated() { raw[i + 1] = b }
        }
        let length = MemoryLayout<sa_family_t>.size + 1 + bytes.count
        return (addr, socklen_t(length))
    }
}

/// The relay's side of the status channel: each connection is answered with the current
/// status, on a thread of its own (`AcceptThread`); `status` must be thread-safe.
final class StatusServer: Sendable {
    private let acceptor: AcceptThread

    /// Binds the abstract name; fails with EADDRINUSE if a relay for this table already runs
    /// in this namespace.
    init(table: String, status: @escaping @Sendable () -> RelayStatus) throws(RelayDaemonError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket(AF_UNIX)", errno) }
        var (addr, length) = StatusChannel.abstractAddress(StatusChannel.name(table: table))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0, listen(fd, 16) == 0 else {
            let e = errno
            close(fd)
            if e == EADDRINUSE { throw .alreadyRunning(table: table, name: StatusChannel.name(table: table)) }
            throw .system("bind(@\(StatusChannel.name(table: table)))", e)
        }
        acceptor = AcceptThread(listening: fd, timeout: 1) { client in
            AcceptThread.sendAll(client, Array((status().json.rendered() + "\n").utf8))
        }
    }

    func start() throws(RelayDaemonError) { try acceptor.start() }
    func stop() { acceptor.stop() }
}
