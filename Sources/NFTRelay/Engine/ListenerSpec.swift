import NetworkAddress

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
    /// TCP: a relayed connection that carries no byte either way for this long is reset
    /// (both sides). nil: never (keepalive still ends connections to dead peers).
    public var tcpIdleTimeout: Duration?
    /// At most this many connections (TCP) or flows (UDP) per client address (IP, any
    /// port), so one client cannot take the whole `connectionLimit`. A TCP client over it
    /// is reset at once; a UDP client over it has its own least recently active flow
    /// replaced by the new one. nil: no per-client limit.
    public var perSourceLimit: Int?
    /// TCP keepalive on both legs (client and target socket); nil: the system's defaults
    /// (off unless the peer program asks).
    public var keepalive: TCPKeepalive?
    /// An already bound socket to use instead of opening one (docker's -use-listen-fd):
    /// listening (or bound, it is then put into listening) for TCP, bound for UDP.
    /// The engine takes ownership and closes it.
    public var preopenedFD: Int32?
    /// Only clients from these networks are served (empty: everyone): TCP clients of others
    /// are closed as soon as accepted, UDP datagrams of others dropped without a flow.
    public var allowedSources: [Subnet]
    /// TCP: every connection to the target starts with a PROXY protocol header of this
    /// version naming the client and the address it connected to (`ProxyHeader`); nil: none.
    public var proxyProtocol: ProxyProtocolVersion?
    /// A redirect listener. Each client's original destination (after the kernel's
    /// `redirect`: SO_ORIGINAL_DST for TCP, the routes' `destinations` lookup for a new UDP
    /// flow) picks its route, with that route's target and allow-list; `target` and
    /// `allowedSources` are then unused; a TCP client with no route is reset, a UDP
    /// datagram with none dropped.
    public var redirect: RedirectRoutes?
    /// UDP: flows a previous relay handed over with this listener's socket (`preopenedFD`),
    /// each connected to `target`; the listener serves them from its first instant, within
    /// its flow limits (what does not fit is closed). The engine takes ownership of the fds
    /// once `addListener` returned; if it throws, they stay the caller's.
    public var adoptedFlows: [UDPFlowHandover]

    public static let defaultUDPFlowLimit = 4096

    public init(
        proto: TransportProtocol,
        listen: SocketAddress,
        target: SocketAddress,
        connectionLimit: Int? = nil,
        connectTimeout: Duration = .seconds(10),
        udpIdleTimeout: Duration = .seconds(90),
        tcpIdleTimeout: Duration? = nil,
        perSourceLimit: Int? = nil,
        keepalive: TCPKeepalive? = .standard,
        preopenedFD: Int32? = nil,
        allowedSources: [Subnet] = [],
        proxyProtocol: ProxyProtocolVersion? = nil,
        redirect: RedirectRoutes? = nil,
        adoptedFlows: [UDPFlowHandover] = []
    ) {
        self.redirect = redirect
        self.adoptedFlows = adoptedFlows
        self.proto = proto
        self.listen = listen
        self.target = target
        self.connectionLimit = connectionLimit
        self.connectTimeout = connectTimeout
        self.udpIdleTimeout = udpIdleTimeout
        self.tcpIdleTimeout = tcpIdleTimeout
        self.perSourceLimit = perSourceLimit
        self.keepalive = keepalive
        self.preopenedFD = preopenedFD
        self.allowedSources = allowedSources
        self.proxyProtocol = proxyProtocol
    }
}

/// TCP keepalive settings (SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT).
public struct TCPKeepalive: Hashable, Sendable {
    /// Seconds of silence before the first probe.
    public var idle: Int32
    /// Seconds between unanswered probes.
    public var interval: Int32
    /// Unanswered probes after which the connection is dropped.
    public var count: Int32

    public init(idle: Int32, interval: Int32, count: Int32) {
        self.idle = idle
        self.interval = interval
        self.count = count
    }

    /// 60 s, then 6 probes 10 s apart: a peer that vanished (host off, cable cut, NAT state
    /// lost) frees its connection within 2 minutes instead of holding it for ever (the
    /// kernel's own defaults wait 2 hours, and are off unless asked for); a live idle
    /// connection costs one small packet a minute.
    public static let standard = TCPKeepalive(idle: 60, interval: 10, count: 6)
}

/// Identifies a listener within one `RelayEngine`.
public struct ListenerID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public var description: String { "listener#\(rawValue)" }
}
