/// What one listener relays: where it listens, where it forwards, and its limits.
public struct ListenerSpec: Hashable, Sendable {
    public enum TransportProtocol: String, Hashable, Sendable { case tcp, udp }

    public var proto: TransportProtocol
    /// Where to listen; the IP may be a wildcard (0.0.0.0 or ::). Port 0 picks a free port
    /// (see `ListenerStats.boundAddress`).
    public var listen: SocketAddress
    /// Where to forward; may be of the other family than `listen` (IPv6 listen -> IPv4 target).
    public var target: SocketAddress
    /// TCP: at most this many relayed connections at once; further clients wait in the
    /// listen backlog. UDP: at most this many flows (the least recently active is evicted).
    /// nil: unlimited for TCP, 4096 flows for UDP.
    public var connectionLimit: Int?
    /// How long a TCP connect to the target may take before the client is reset.
    public var connectTimeout: Duration
    /// How long a UDP flow may stay silent (both directions) before it is dropped.
    public var udpIdleTimeout: Duration
    /// An already bound socket to use instead of opening one (docker's -use-listen-fd):
    /// listening (or bound, it is then put into listening) for TCP, bound for UDP.
    /// The engine takes ownership and closes it.
    public var preopenedFD: Int32?
    /// Only clients from these networks are served (empty: everyone): TCP clients of others
    /// are closed as soon as accepted, UDP datagrams of others dropped without a flow.
    public var allowedSources: [SourceNetwork]

    public static let defaultUDPFlowLimit = 4096

    public init(
        proto: TransportProtocol,
        listen: SocketAddress,
        target: SocketAddress,
        connectionLimit: Int? = nil,
        connectTimeout: Duration = .seconds(10),
        udpIdleTimeout: Duration = .seconds(90),
        preopenedFD: Int32? = nil,
        allowedSources: [SourceNetwork] = []
    ) {
        self.proto = proto
        self.listen = listen
        self.target = target
        self.connectionLimit = connectionLimit
        self.connectTimeout = connectTimeout
        self.udpIdleTimeout = udpIdleTimeout
        self.preopenedFD = preopenedFD
        self.allowedSources = allowedSources
    }
}

/// Identifies a listener within one `RelayEngine`.
public struct ListenerID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public var description: String { "listener#\(rawValue)" }
}
