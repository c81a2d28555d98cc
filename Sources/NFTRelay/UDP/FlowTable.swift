/// The flows of one UDP listener: a dictionary by client address plus a doubly linked list
/// ordered by last activity (head = least recently active), so expiry and eviction look
/// only at the head and touching a flow is O(1).
///
/// Concurrency model: confined to the event loop thread.
struct FlowTable {
    private(set) var byClient: [SocketAddress: UDPFlow] = [:]
    private(set) var oldest: UDPFlow?
    private var newest: UDPFlow?

    var count: Int { byClient.count }

    subscript(client: SocketAddress) -> UDPFlow? { byClient[client] }

    mutating func insert(_ flow: UDPFlow) {
        byClient[flow.client] = flow
        append(flow)
    }

    /// Marks `flow` active at `now`: it moves to the newest end.
    mutating func touch(_ flow: UDPFlow, now: UInt64) {
        flow.lastActive = now
        guard newest !== flow else { return }
        unlink(flow)
        append(flow)
    }

    mutating func remove(_ flow: UDPFlow) {
        byClient[flow.client] = nil
        unlink(flow)
    }

    private mutating func append(_ flow: UDPFlow) {
        flow.previous = newest
        flow.next = nil
        newest?.next = flow
        newest = flow
        if oldest == nil { oldest = flow }
    }

    private mutating func unlink(_ flow: UDPFlow) {
        if let previous = flow.previous { previous.next = flow.next } else if oldest === flow { oldest = flow.next }
        if let next = flow.next { next.previous = flow.previous } else if newest === flow { newest = flow.previous }
        flow.previous = nil
        flow.next = nil
    }
}
