#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding
import SavedState
import SystemErrno

/// How `nftfwd ls` and the changing commands ask a running relay for its status: a unix
/// socket in the runtime directory only root can write to (`RuntimeDirectory`, /run/nftfwd),
/// `relay-<dev>-<ino>-<table>.sock`, where dev and ino identify the network namespace (of
/// /proc/thread-self/ns/net): `ip netns exec` shares /run, so the name must tell namespaces
/// apart. Another user can therefore neither bind the name first (squatting it while no relay
/// runs) nor connect (reading the relay's mappings, or filling its backlog).
///
/// Protocol: connect; the relay writes its `RelayStatus` as JSON and closes. It answers only
/// peers of uid 0 (SO_PEERCRED); others are closed with nothing written. The asker in turn
/// believes only a holder of uid 0.
public enum StatusChannel {
    /// The socket's path for `table` in the calling thread's network namespace.
    public static func path(table: String, directory: String = RuntimeDirectory.path) throws(RuntimeFileError) -> String {
        directory + "/relay-" + (try namespaceKey()) + "-" + table + ".sock"
    }

    /// The lock a relay holds for as long as it serves `table` here (`RuntimeLock`): with it, a
    /// socket file left by a relay that died is known to be stale, and two relays starting at
    /// once cannot both take the name.
    package static func lockPath(table: String, directory: String = RuntimeDirectory.path) throws(RuntimeFileError) -> String {
        directory + "/relay-" + (try namespaceKey()) + "-" + table + ".lock"
    }

    /// `<dev>-<ino>` of the calling thread's network namespace.
    package static func namespaceKey() throws(RuntimeFileError) -> String {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else {
            throw .failed("cannot tell which network namespace this is", "stat /proc/thread-self/ns/net", .current)
        }
        return "\(st.st_dev)-\(st.st_ino)"
    }

    /// What asking for the relay's status found.
    public enum Answer: Sendable {
        /// Nothing holds the socket (no runtime directory, no socket file, or nobody listens on
        /// it: connect gives ENOENT or ECONNREFUSED): no relay for this table runs in this
        /// network namespace.
        case noRelay
        /// The socket is held by a process of a user other than root (one that bound it as
        /// root and then changed its uid). It is not believed; and since a name has one
        /// holder, no relay root started holds it either.
        case notTrusted(uid: UInt32, pid: Int32)
        /// The relay's status.
        case status(RelayStatus)
        /// Something may hold the name but no whole, valid status came back (a timeout, a
        /// connect or read error, a cut or malformed answer), or the question could not even be
        /// asked (the runtime directory is not root's alone): whether a relay runs, and what it
        /// does, is unknown. The text says why.
        case noAnswer(String)
    }

    /// What the commands say of a `notTrusted` holder (after "warning: ", or in doctor).
    public static func untrusted(table: String, uid: UInt32, pid: Int32) -> String {
        let socket = (try? path(table: table)) ?? "of table \(table)"
        return "the relay's status socket \(socket) is held by a process of uid \(uid) (pid \(pid)), not by a relay run by root: ignored"
    }

    /// The status of the relay serving `table` in this network namespace, or nil if none runs
    /// or it did not answer (`ask` tells these apart).
    public static func query(table: String, timeoutMilliseconds: Int32 = 1000) -> RelayStatus? {
        if case .status(let status) = ask(table: table, timeoutMilliseconds: timeoutMilliseconds) { return status }
        return nil
    }

    /// Asks the relay serving `table` in this network namespace for its status, waiting at
    /// most `timeoutMilliseconds` for the connection and as long again for the whole answer.
    public static func ask(table: String, timeoutMilliseconds: Int32 = 1000,
                           directory: String = RuntimeDirectory.path) -> Answer {
        switch RuntimeDirectory.check(directory) {
        case .missing: return .noRelay
        case .trusted: break
        case .unsafe(let problem): return .noAnswer("refusing \(directory): \(problem)")
        }
        let path: String
        do { path = try self.path(table: table, directory: directory) } catch { return .noAnswer("\(error)") }
        guard Sockets.fitsUnixAddress(path) else { return .noAnswer("\(path): the path is too long for a unix socket") }
        // No socket file, no relay: said without a descriptor (every change asks, and a caller
        // short of descriptors should meet that where it matters, not here).
        var st = stat()
        if lstat(path, &st) != 0 && errno == ENOENT { return .noRelay }
        let fd: Int32
        do {
            fd = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            return .noAnswer("socket(AF_UNIX) failed: \(error.errno)")
        }
        defer { Posix.close(fd) }
        // SO_SNDTIMEO bounds connect on a unix socket too (a relay whose backlog is full, or
        // that stopped accepting, would otherwise keep us waiting).
        let tv = timeval(tv_sec: Int(timeoutMilliseconds / 1000), tv_usec: Int(timeoutMilliseconds % 1000) * 1000)
        Sockets.setOption(fd, SOL_SOCKET, SO_SNDTIMEO, value: tv)
        do {
            try Sockets.connect(fd, unixPath: path, retryOnInterrupt: true)
        } catch {
            let e = error.errno
            if e.rawValue == ECONNREFUSED || e.rawValue == ENOENT { return .noRelay }
            let why: String
            switch e.rawValue {
            case EAGAIN, EINPROGRESS: why = "it did not accept the connection within \(timeoutMilliseconds) ms"
            case EACCES: why = "only root can ask the relay (connect: \(e))"
            default: why = "connect failed: \(e)"
            }
            return .noAnswer("\(path): \(why)")
        }
        // Only root can bind in the directory, but a process may bind as root and then change
        // its uid: believe only a holder that is root now.
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (glibc hides the name without _GNU_SOURCE)
        guard let cred = Sockets.peerCredentials(fd) else {
            return .noAnswer("\(path): SO_PEERCRED failed: \(Errno.current)")
        }
        guard cred.uid == 0 else { return .notTrusted(uid: cred.uid, pid: cred.pid) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        // One deadline for the whole answer: a relay that trickles bytes cannot keep us longer.
        let deadline = MonotonicClock.milliseconds() + Int64(timeoutMilliseconds)
        while true {
            let left = deadline - MonotonicClock.milliseconds()
            var ready: Int16 = 0
            if left > 0 {
                do {
                    ready = try Posix.poll(fd, events: Int16(POLLIN), timeoutMS: Int32(left))
                } catch {
                    if error.errno == .interrupted { continue }   // the deadline is computed again
                    return .noAnswer("the relay (pid \(cred.pid)) accepted the connection, but reading its answer failed: \(error.errno)")
                }
            }
            if ready == 0 {
                let why = bytes.isEmpty ? "no answer within \(timeoutMilliseconds) ms" : "did not finish its answer within \(timeoutMilliseconds) ms"
                return .noAnswer("the relay (pid \(cred.pid)) accepted the connection, but \(why)")
            }
            let received = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(SyscallError) in try Sockets.receive(fd, into: raw, flags: Int32(MSG_DONTWAIT)) }
            }
            let n: Int
            switch received {
            case .success(.done(let count)): n = count
            case .success(.wouldBlock): continue   // EINTR is retried inside
            case .failure(let error):
                return .noAnswer("the relay (pid \(cred.pid)) accepted the connection, but reading its answer failed: \(error.errno)")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        guard let json = try? JSON.parse(String(decoding: bytes, as: UTF8.self)), let status = RelayStatus(json: json) else {
            return .noAnswer("the relay (pid \(cred.pid)) answered \(bytes.count) byte(s) that are not a whole status")
        }
        return .status(status)
    }

    /// `sockaddr_un` for a path, or nil if it does not fit (108 bytes with the terminator).
    package static func unixAddress(_ path: String) -> (sockaddr_un, socklen_t)? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return (addr, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    /// The uid of the process at the other end of a unix socket, or nil.
    package static func peerUID(_ fd: Int32) -> UInt32? {
        Sockets.peerCredentials(fd)?.uid
    }
}
