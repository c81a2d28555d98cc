#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// systemd's readiness protocol (sd_notify(3)), spoken only when systemd asked for it by
/// setting NOTIFY_SOCKET: a datagram of `KEY=value` lines to that unix socket. The unit is
/// `Type=notify`, so `systemctl start` returns once the relay serves, and `NotifyAccess=all`,
/// so that the relay `systemctl reload` starts (`relay --replace --detach`, a process of the
/// unit's cgroup) can name itself the unit's main process before the old one drains and exits.
///
/// NOTIFY_SOCKET is read once and removed from the environment, so nothing the relay might
/// start speaks for it. A path that does not fit a socket address is ignored.
public final class SystemdNotifier: Sendable {
    /// The socket's path; a leading "@" is the abstract namespace, as systemd writes it.
    public let path: String

    /// The notifier systemd asked for, or nil outside systemd.
    public static func fromEnvironment() -> SystemdNotifier? {
        guard let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }) else { return nil }
        unsetenv("NOTIFY_SOCKET")
        return SystemdNotifier(notifySocket: value)
    }

    /// The notifier for a NOTIFY_SOCKET value: an absolute path or an abstract name ("@name")
    /// that fits a unix socket address; nil for anything else (relative, empty, a bare "@", too
    /// long), which systemd never writes.
    public convenience init?(notifySocket value: String) {
        guard value.hasPrefix("/") || value.hasPrefix("@"), value.utf8.count > 1,
              Sockets.fitsUnixAddress(value.hasPrefix("@") ? String(value.dropFirst()) : value) else { return nil }
        self.init(path: value)
    }

    public init(path: String) { self.path = path }

    /// Sends `lines` as one datagram; false if it could not be sent (systemd gone: nothing to do).
    @discardableResult
    public func send(_ lines: [String]) -> Bool {
        do {
            let fd = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            defer { Posix.close(fd) }
            if path.hasPrefix("@") {
                try Sockets.connect(fd, abstractName: String(path.dropFirst()))
            } else {
                try Sockets.connect(fd, unixPath: path)
            }
            try Posix.writeAll(fd, lines.joined(separator: "\n"))
            return true
        } catch {
            return false
        }
    }
}
