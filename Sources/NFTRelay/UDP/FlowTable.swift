import NetworkAddress

/// The flows of one UDP listener: a dictionary by client address plus a doubly linked list
/// ordered by last activity (head = least recently active), so expiry looks only at the head
/// and touching a flow is O(1).
///
/// Flows are also grouped by client address (`FlowSource`: one IP, any port), each group
/// with its own activity list, and the groups are bucketed by their number of flows. That
/// makes eviction fair: a full table gives up the least recently active flow of the source
/// with the most flows (`evictionCandidate`), so one source opening thousands of flows only
/// ever recycles its own, and a source with a few established flows keeps them. Every
/// operation stays O(1).
///
/// Concurrency model: confined to the event loop thread.
struct FlowTable {
    private(set) var byClient: [SocketAddress: UDPFlow] = [:]
    private(set) var oldest: UDPFlow?
    private var newest: UDPFlow?
    private var sources: [IPAddress: FlowSource] = [:]
    /// `buckets[n]`: the sources with exactly n flows (n >= 1), linked through themselves.
    private var buckets: [FlowSource?] = [nil]
    /// The largest n with a non-empty bucket (0: no flows).
    private var largest = 0

    var count: Int { byClient.count }

    subscript(client: SocketAddress) -> UDPFlow? { byClient[client] }

    /// The group of `address`, if it has flows.
    func source(_ address: IPAddress) -> FlowSource? { sources[address] }

    /// The flow to give up when the table is full: the least recently active flow of the
    /// source with the most flows.
    var evictionCandidate: UDPFlow? { largest > 0 ? buckets[largest]?.oldest : nil }

    mutating func insert(_ flow: UDPFlow) {
        byClient[flow.client] = flow
        append(flow)
        let source: FlowSource
        if let existing = sources[flow.client.ip] {
            source = existing
        } else {
            source = FlowSource(address: flow.client.ip)
            sources[flow.client.ip] = source
        }
        flow.source = source
        source.append(flow)
        if source.count > 1 { unbucket(source, source.count - 1) }
        bucket(source)
    }

    /// Marks `flow` active at `now`: it moves to the newest end (of the table and its source).
    mutating func touch(_ flow: UDPFlow, now: UInt64) {
        flow.lastActive = now
        guard newest !== flow else { return }
        unlink(flow)
        append(flow)
        flow.source?.moveToNewest(flow)
    }

    mutating func remove(_ flow: UDPFlow) {
        byClient[flow.client] = nil
        unlink(flow)
        guard let source = flow.source else { return }
        flow.source = nil
        unbucket(source, source.count)
        source.remove(flow)
        if source.count > 0 { bucket(source) } else { sources[source.address] = nil }
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

    /// Puts `source` into the bucket of its current count.
    private mutating func bucket(_ source: FlowSource) {
        let n = source.count
        if n >= buckets.count { buckets.append(nil) }   // counts grow by one: one slot at most
        source.bucketPrevious = nil
        source.bucketNext = buckets[n]
        buckets[n]?.bucketPrevious = source
        buckets[n] = source
        if n > largest { largest = n }
    }

    /// Takes `source` out of bucket `n` (its count before the change).
    private mutating func unbucket(_ source: FlowSource, _ n: Int) {
        if let previous = source.bucketPrevious { previous.bucketNext = source.bucketNext } else { buckets[n] = source.bucketNext }
        source.bucketNext?.bucketPrevious = source.bucketPrevious
        source.bucketPrevious = nil
        source.bucketNext = nil
        // Counts change by one, so the largest non-empty bucket is this one or the next below.
        if n == largest && buckets[n] == nil { largest = n - 1 }
    }
}

/// The flows of one client address (IP, any port), least recently active first.
///
/// Concurrency model: confined to the event loop thread.
final class FlowSource {
    let address: IPAddress
    private(set) var count = 0
    private(set) var oldest: UDPFlow?
    private var newest: UDPFlow?
    var bucketPrevious: FlowSource?
    var bucketNext: FlowSource?
    /// Flows replaced because this source was at the per-source limit; nil while it never was.
    var replaced: Int?

    init(address: IPAddress) { self.address = address }

    func append(_ flow: UDPFlow) {
        flow.sourcePrevious = newest
        flow.sourceNext = nil
        newest?.sourceNext = flow
        newest = flow
        if oldest == nil { oldest = flow }
        count += 1
    }

    func remove(_ flow: UDPFlow) {
        if let previous = flow.sourcePrevious { previous.sourceNext = flow.sourceNext } else if oldest === flow { oldest = flow.sourceNext }
        if let next = flow.sourceNext { next.sourcePrevious = flow.sourcePrevious } else if newest === flow { newest = flow.sourcePrevious }
        flow.sourcePrevious = nil
        flow.sourceNext = nil
        count -= 1
    }

    func moveToNewest(_ flow: UDPFlow) {
        guard newest !== flow else { return }
        remove(flow)
        append(flow)
    }
}
