/// The connections of one listener whose connect to the target is still in flight, oldest
/// first, for the connect timeout.
///
/// All connects of a listener share one timeout, so deadlines come in insertion order and a
/// FIFO linked through the connections themselves is enough: adding and removing are O(1)
/// and allocate nothing. (A heap timer per connect would keep ~100 bytes per *finished*
/// connect alive until its deadline: megabytes at thousands of connections per second.)
///
/// Concurrency model: confined to the event loop thread.
struct PendingConnects {
    private(set) var oldest: TCPConnection?
    private var newest: TCPConnection?

    var isEmpty: Bool { oldest == nil }

    mutating func append(_ connection: TCPConnection) {
        connection.pendingPrevious = newest
        connection.pendingNext = nil
        newest?.pendingNext = connection
        newest = connection
        if oldest == nil { oldest = connection }
        connection.isPending = true
    }

    mutating func remove(_ connection: TCPConnection) {
        guard connection.isPending else { return }
        connection.isPending = false
        if let previous = connection.pendingPrevious { previous.pendingNext = connection.pendingNext } else { oldest = connection.pendingNext }
        if let next = connection.pendingNext { next.pendingPrevious = connection.pendingPrevious } else { newest = connection.pendingPrevious }
        connection.pendingPrevious = nil
        connection.pendingNext = nil
    }
}
