import Synchronization
import NetworkAddress

/// Connections of one redirected port, counted by whichever loop accepts or closes them.
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

/// Where a redirect listener sends each client: keyed by the destination the client asked for
/// (SO_ORIGINAL_DST after the kernel's `redirect`), so one socket serves any number of
/// published ports. A port bound to one loopback address (127.0.0.5:80) is found under that
/// address; a wildcard port under 0.0.0.0 / ::. Replaced as a whole when the table changes:
/// a lookup is one hash lookup under a lock taken once per connection.
public final class RedirectRoutes: Hashable, Sendable {
    public struct Route: Hashable, Sendable {
        public var target: SocketAddress
        /// Clients allowed (empty: everyone), as `ListenerSpec.allowedSources`.
        public var allowedSources: [Subnet]
        /// Kept across `replace` for an unchanged route (see `RedirectRoutes.replace`).
        public var counters: RouteCounters
        public init(target: SocketAddress, allowedSources: [Subnet] = [], counters: RouteCounters = RouteCounters()) {
            self.target = target
            self.allowedSources = allowedSources
            self.counters = counters
        }
        public static func == (a: Route, b: Route) -> Bool { a.target == b.target && a.allowedSources == b.allowedSources }
        public func hash(into hasher: inout Hasher) { hasher.combine(target) }
    }

    private let routes = Mutex<[SocketAddress: Route]>([:])
    private let versions = Atomic<Int>(0)
    /// UDP: how a listener learns a new flow's original destination (nil for TCP routes).
    public let destinations: (any DatagramDestinations)?

    public init(destinations: (any DatagramDestinations)? = nil) {
        self.destinations = destinations
    }

    /// Moves on at every `replace`: a UDP flow validated at another version looks its route up again.
    public var version: Int { versions.load(ordering: .acquiring) }

    /// Takes `table` as the routes from now on; a route equal to the one it replaces keeps
    /// its counters (connections open through it stay counted).
    public func replace(with table: [SocketAddress: Route]) {
        routes.withLock { old in
            var new = table
            for (key, route) in new { if let before = old[key], before == route { new[key]!.counters = before.counters } }
            old = new
        }
        versions.add(1, ordering: .releasing)
    }

    /// Connections open and ever made through the routes of `destinations` (one mapping's ports).
    public func counts(for destinations: [SocketAddress]) -> (active: Int, total: Int, refused: Int) {
        routes.withLock { table in
            destinations.reduce((0, 0, 0)) { sum, key in
                guard let c = table[key]?.counters else { return sum }
                return (sum.0 + c.active, sum.1 + c.total, sum.2 + c.refused)
            }
        }
    }

    /// The counters of `destination`'s route (exactly that key), if it has one.
    public func counters(for destination: SocketAddress) -> RouteCounters? { routes.withLock { $0[destination]?.counters } }

    public var count: Int { routes.withLock { $0.count } }

    /// The route for `destination`: the address itself, else the wildcard of its family.
    public func route(for destination: SocketAddress) -> Route? {
        routes.withLock { table in
            if let route = table[destination] { return route }
            return table[SocketAddress(ip: destination.family == .ipv4 ? .anyIPv4 : .anyIPv6, port: destination.port)]
        }
    }

    public static func == (a: RedirectRoutes, b: RedirectRoutes) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
