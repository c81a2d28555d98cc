import SystemCalls

extension Sockets {
    /// Turns TCP keepalive on with `settings`. Best effort: a socket that refuses keeps
    /// relaying without. Set on a listening socket, it is inherited by accepted ones.
    static func setKeepalive(_ fd: Int32, _ settings: TCPKeepalive) {
        setKeepalive(fd, idle: settings.idle, interval: settings.interval, count: settings.count)
    }
}
