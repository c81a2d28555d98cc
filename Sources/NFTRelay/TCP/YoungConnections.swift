/// The relaying connections of one listener whose target socket has no keepalive settings
/// yet, oldest first. Setting keepalive costs four setsockopt calls, about a fifth of a short
/// connection's system calls, and only matters to a connection that lives for minutes (the
/// first probe comes after `TCPKeepalive.idle` seconds of silence, counted from the last
/// segment received, not from when the option was set). So a target socket gets its settings
/// once the connection has relayed for `TCPListener.keepaliveDelay`, from a sweep; the client
/// socket inherits them from the listening socket at accept, for nothing.
///
/// All connections of a listener share the delay, so a FIFO linked through the connections
/// themselves is enough: adding and removing are O(1) and allocate nothing.
///
/// Concurrency model: confined to the event loop thread.
struct YoungConnections {
    private(set) var oldest: TCPConnection?
    private var newest: TCPConnection?

    var isEmpty: Bool { oldest == nil }

    mutating func append(_ connection: TCPConnection, now: UInt64) {
        connection.youngSince = now
        connection.youngPrevious = newest
        connection.youngNext = nil
        newest?.youngNext = connection
        newest = connection
        if oldest == nil { oldest = connection }
        connection.isYoung = true
    }

    mutating func remove(_ connection: TCPConnection) {
        guard connection.isYoung else { return }
        connection.isYoung = false
        if let previous = connection.youngPrevious { previous.youngNext = connection.youngNext } else { oldest = connection.youngNext }
        if let next = connection.youngNext { next.youngPrevious = connection.youngPrevious } else { newest = connection.youngPrevious }
        connection.youngPrevious = nil
        connection.youngNext = nil
    }
}
