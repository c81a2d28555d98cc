#if canImport(Glibc)
import Glibc
#endif
import PortForwarding
import SystemErrno

/// How `nftfwd ls` asks a running relay for its status: an abstract-namespace unix socket
/// named after the table. Abstract sockets belong to the network namespace, so relays in
/// several namespaces never collide (while /run is shared by `ip netns exec`), and nothing
/// is left on disk when a relay dies.
///
/// Protocol: connect; the relay writes its `RelayStatus` as JSON and closes.
public enum StatusChannel {
    /// The abstract name, without the leading NUL.
    public static func name(table: String) -> String { "nftfwd-relay/" + table }

    /// What asking for the relay's status found.
    public enum Answer: Sendable {
        /// Nobody has bound the name (connect: ECONNREFUSED, or ENOENT): no relay for this
        /// table runs in this network namespace.
        case noRelay
        /// The name is held by a process of a user other than root and us. It is not believed;
        /// and since a name has one holder, no relay root started holds it either.
        case notTrusted(uid: UInt32)
        /// The relay's status.
        case status(RelayStatus)
        /// Something may hold the name but no whole, valid status came back (a timeout, a
        /// connect or read error, a cut or malformed answer), or the question could not even be
        /// asked: whether a relay runs, and what it does, is unknown. The text says why.
        case noAnswer(String)
    }

    /// The status of the relay serving `table` in this network namespace, or nil if none runs
    /// or it did not answer (`ask` tells these apart).
    public static func query(table: String, timeoutMilliseconds: Int32 = 1000) -> RelayStatus? {
        if case .status(let status) = ask(table: table, timeoutMilliseconds: timeoutMilliseconds) { return status }
        return nil
    }

    /// Asks the relay serving `table` in this network namespace for its status, waiting at
    /// most `timeoutMilliseconds` for the connection and as long again for the whole answer.
    public static func ask(table: String, timeoutMilliseconds: Int32 = 1000) -> Answer {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .noAnswer("socket(AF_UNIX) failed: \(Errno.current)") }
        defer { close(fd) }
        // SO_SNDTIMEO bounds connect on a unix socket too (a relay whose backlog is full, or
        // that stopped accepting, would otherwise keep us waiting); SO_RCVTIMEO each read.
        var tv = timeval(tv_sec: Int(timeoutMilliseconds / 1000), tv_usec: Int(timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let (address, length) = abstractAddress(name(table: table))
        var addr = address
        var rc: Int32
        repeat {
            rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
        } while rc != 0 && errno == EINTR
        if rc != 0 {
            let e = Errno.current
            if e.rawValue == ECONNREFUSED || e.rawValue == ENOENT { return .noRelay }
            let why = e.rawValue == EAGAIN || e.rawValue == EINPROGRESS
                ? "it did not accept the connection within \(timeoutMilliseconds) ms" : "connect failed: \(e)"
            return .noAnswer("@\(name(table: table)): \(why)")
        }
        // Anyone in the namespace could bind the name first: believe only a relay run by
        // root or by ourselves.
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (glibc hides the name without _GNU_SOURCE)
        var cred: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var credLength = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credLength) == 0 else {
            return .noAnswer("@\(name(table: table)): SO_PEERCRED failed: \(Errno.current)")
        }
        guard cred.uid == 0 || cred.uid == geteuid() else { return .notTrusted(uid: cred.uid) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = monotonicMilliseconds() + Int64(timeoutMilliseconds)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let e = Errno.current
                let why = e.rawValue == EAGAIN ? "no answer within \(timeoutMilliseconds) ms" : "reading its answer failed: \(e)"
                return .noAnswer("the relay (pid \(cred.pid)) accepted the connection, but \(why)")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            // A relay that trickles bytes does not keep us here longer than one more timeout.
            if monotonicMilliseconds() > deadline {
                return .noAnswer("the relay (pid \(cred.pid)) did not finish its answer within \(timeoutMilliseconds) ms")
            }
        }
        guard let json = try? JSON.parse(String(decoding: bytes, as: UTF8.self)), let status = RelayStatus(json: json) else {
            return .noAnswer("the relay (pid \(cred.pid)) answered \(bytes.count) byte(s) that are not a whole status")
        }
        return .status(status)
    }

    private static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
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
