import Synchronization
import NetworkAddress

/// Connections (TCP) or flows (UDP) of one redirected mapping, counted by whichever loop
/// accepts or closes them.
public final class RouteCounters: Sendable {
    private let counts = Atomic<Int>(0), totals = Atomic<Int>(0), refusals = Atomic<Int>(0)
    public init() {}
    public var active: Int { counts.load(ordering: .relaxed) }
    public var total: Int { totals.load(ordering: .relaxed) }
    /// Clients its route's allow-list turned away.
    public var refused: Int { refusals.load(ordering: .relaxed) }
    func refusedOne() { refusals.add(1, ordering: .relaxed) }
    func opened() { counts.add(1, ordering: .relaxed); totals.add(1, ordering: .relaxed) }
    func closed() { counts.subtract(1, ordering: .relaxed) }
}

/// Where a redirect listener sends each client: found by the destination the client asked
/// for (SO_ORIGINAL_DST, or a UDP flow's conntrack entry, after the kernel's `redirect`), so
/// one socket serves any number of published ports.
///
/// The table is one entry per mapping, not per port: a host address (the family's
/// unspecified address for a mapping on every address), a port range and where its first
/// port goes, sorted by address and first port. A lookup is a binary search for the exact
/// address, then for the wildcard, under a lock taken once per connection or new flow; a
/// 60,000-port range costs one entry. Mappings of one address never overlap (the publisher
/// refuses conflicts), so the range found is the only one. Replaced as a whole when the table
/// changes.
public final class RedirectRoutes: Hashable, Sendable {
    /// One mapping's ports: `ports` on `listen` go to `target`, port for port from `targetFirstPort`.
    public struct Range: Sendable {
        public var listen: IPAddress
        public var ports: ClosedRange<UInt16>
        public var target: IPAddress
        public var targetFirstPort: UInt16
        /// Clients allowed (empty: everyone), as `ListenerSpec.allowedSources`.
        public var allowedSources: [Subnet]
        /// Kept across `replace` for an unchanged range (see `RedirectRoutes.replace`).
        public var counters: RouteCounters
        public init(listen: IPAddress, ports: ClosedRange<UInt16>, target: IPAddress, targetFirstPort: UInt16,
                    allowedSources: [Subnet] = [], counters: RouteCounters = RouteCounters()) {
            self.listen = listen; self.ports = ports; self.target = target; self.targetFirstPort = targetFirstPort
            self.allowedSources = allowedSources; self.counters = counters
        }

        /// The same mapping: same ports, same target, same allow-list (the counters aside).
        func sameRoute(as other: Range) -> Bool {
            listen == other.listen && ports == other.ports && target == other.target
                && targetFirstPort == other.targetFirstPort && allowedSources == other.allowedSources
        }
    }

    /// What a lookup gives: one port's target, with its mapping's allow-list and counters.
    public struct Route: Sendable {
        public var target: SocketAddress
        public var allowedSources: [Subnet]
        public var counters: RouteCounters
    }

    private let ranges = Mutex<[Range]>([])
    private let versions = Atomic<Int>(0)
    /// UDP: how a listener learns a new flow's original destination (nil for TCP routes).
    public let destinations: (any DatagramDestinations)?

    public init(destinations: (any DatagramDestinations)? = nil) {
        self.destinations = destinations
    }

    /// Moves on at every `replace`: a UDP flow validated at another version looks its route up again.
    public var version: Int { versions.load(ordering: .acquiring) }

    /// Takes `table` as the routes from now on; a range equal to one it replaces keeps its
    /// counters (connections open through it stay counted).
    public func replace(with table: [Range]) {
        var new = table.sorted { ($0.listen, $0.ports.lowerBound) < ($1.listen, $1.ports.lowerBound) }
        ranges.withLock { old in
            for i in new.indices {
                if let before = Self.find(new[i].listen, new[i].ports.lowerBound, in: old), before.sameRoute(as: new[i]) {
                    new[i].counters = before.counters
                }
            }
            old = new
        }
        versions.add(1, ordering: .releasing)
    }

    /// Connections open, ever made and refused through the range starting at `first` on `listen`.
    public func counts(listen: IPAddress, first: UInt16) -> (active: Int, total: Int, refused: Int) {
        ranges.withLock { table in
            guard let c = Self.find(listen, first, in: table)?.counters else { return (0, 0, 0) }
            return (c.active, c.total, c.refused)
        }
    }

    public var count: Int { ranges.withLock { $0.count } }

    /// The route for `destination`: the address itself, else the wildcard of its family.
    public func route(for destination: SocketAddress) -> Route? {
        ranges.withLock { table in
            let range = Self.find(destination.ip, destination.port, in: table)
                ?? Self.find(.unspecified(destination.family), destination.port, in: table)
            return range.map { r in
                Route(target: SocketAddress(ip: r.target, port: r.targetFirstPort &+ (destination.port &- r.ports.lowerBound)),
                      allowedSources: r.allowedSources, counters: r.counters)
            }
        }
    }

    /// The range of `address` holding `port`: the last one starting at or below it.
    private static func find(_ address: IPAddress, _ port: UInt16, in table: [Range]) -> Range? {
        var low = 0, high = table.count   // the first index whose start is above (address, port)
        while low < high {
            let mid = (low + high) / 2
            if (table[mid].listen, table[mid].ports.lowerBound) <= (address, port) { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let candidate = table[low - 1]
        return candidate.listen == address && candidate.ports.contains(port) ? candidate : nil
    }

    public static func == (a: RedirectRoutes, b: RedirectRoutes) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
