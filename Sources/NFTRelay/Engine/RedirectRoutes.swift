import Synchronization

/// Where a redirect listener sends each client: keyed by the destination the client asked for
/// (SO_ORIGINAL_DST after the kernel's `redirect`), so one socket serves any number of
/// published ports. A port bound to one loopback address (127.0.0.5:80) is found under that
/// address; a wildcard port under 0.0.0.0 / ::. Replaced as a whole when the table changes:
/// a lookup is one hash lookup under a lock taken once per connection.
public final class RedirectRoutes: Hashable, Sendable {
    public struct Route: Hashable, Sendable {
        public var target: SocketAddress
        /// Clients allowed (empty: everyone), as `ListenerSpec.allowedSources`.
        public var allowedSources: [SourceNetwork]
        public init(target: SocketAddress, allowedSources: [SourceNetwork] = []) {
            self.target = target
            self.allowedSources = allowedSources
        }
    }

    private let routes = Mutex<[SocketAddress: Route]>([:])

    public init() {}

    public func replace(with table: [SocketAddress: Route]) { routes.withLock { $0 = table } }

    public var count: Int { routes.withLock { $0.count } }

    /// The route for `destination`: the address itself, else the wildcard of its family.
    public func route(for destination: SocketAddress) -> Route? {
        routes.withLock { table in
            if let route = table[destination] { return route }
            return table[SocketAddress(ip: destination.family == .inet ? .anyIPv4 : .anyIPv6, port: destination.port)]
        }
    }

    public static func == (a: RedirectRoutes, b: RedirectRoutes) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
