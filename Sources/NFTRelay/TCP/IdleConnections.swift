/// The relaying connections of one listener ordered by their last transfer, least recently
/// active first, for `ListenerSpec.tcpIdleTimeout`: the sweep looks only at the head, and
/// marking a connection active moves it to the tail. Linked through the connections
/// themselves, so neither costs an allocation (the relay's hot path stays allocation-free).
///
/// Concurrency model: confined to the event loop thread.
struct IdleConnections {
    private(set) var oldest: TCPConnection?
    private var newest: TCPConnection?

    var isEmpty: Bool { oldest == nil }

    /// Adds `connection` as the most recently active, or moves it there.
    mutating func touch(_ connection: TCPConnection, now: UInt64) {
        connection.lastActive = now
        if newest === connection { return }
        remove(connection)
        connection.idlePrevious = newest
        newest?.idleNext = connection
        newest = connection
        if oldest == nil { oldest = connection }
        connection.isInIdleList = true
    }

    mutating func remove(_ connection: TCPConnection) {
        guard connection.isInIdleList else { return }
        connection.isInIdleList = false
        if let previous = connection.idlePrevious { previous.idleNext = connection.idleNext } else { oldest = connection.idleNext }
        if let next = connection.idleNext { next.idlePrevious = connection.idlePrevious } else { newest = connection.idlePrevious }
        connection.idlePrevious = nil
        connection.idleNext = nil
    }
}
