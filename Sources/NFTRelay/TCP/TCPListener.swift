#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress
import SystemCalls

/// A listening TCP socket: accepts clients and starts a `TCPConnection` for each.
///
/// Accepting pauses (the listener is taken out of epoll) while the connection limit is
/// reached, and for 100 ms after EMFILE/ENFILE/ENOBUFS/ENOMEM, so running out of fds never
/// spins the CPU; clients wait in the kernel's backlog meanwhile. A client accepted just
/// before the fds ran out (no fd left for its target socket) is parked, not dropped, and
/// connected as soon as a connection closes or the back-off ends.
///
/// Hostile clients: with `spec.perSourceLimit`, a client address over its share is reset at
/// once (counted across loops by the `ListenerShare`); with `spec.tcpIdleTimeout`, a
/// connection that moved no byte for that long is reset by a sweep (`IdleConnections`).
/// Running out of ports or fds for target connections is reported once per episode.
///
/// Concurrency model: confined to the event loop thread.
final class TCPListener: EventHandler, RelayListener {
    let id: ListenerID
    let fd: Int32
    /// Keeps the (possibly shared) socket open while this listener accepts; released when
    /// it drains (the fd number may then belong to another socket: never touch `fd` again).
    private var socket: ListenerSocket?
    /// Set while draining: called when the last connection closed.
    private var onDrained: (() -> Void)?
    /// Other loops accept from the same socket: register exclusively, and re-check a
    /// connection limit (counted across loops) on a timer, since their closes do not wake us.
    private let shared: Bool
    private let spec: ListenerSpec
    private let share: ListenerShare
    private let context: RelayContext
    private var connections: [ObjectIdentifier: TCPConnection] = [:]
    private var pending = PendingConnects()
    /// Accepted clients waiting for an fd for their target socket (EMFILE), oldest first,
    /// with their address when the per-source limit counted them.
    private var parked: [(fd: Int32, source: IPAddress?, target: SocketAddress)] = []
    private static let maxParked = 64
    private var pendingSweep: TimerToken?
    private var paused = false
    private var backoff: TimerToken?
    private var closed = false
    /// An unexpected accept error was reported in the stats; cleared by the next success.
    private var reportedFailure = false
    private let limit: Int
    private let connectTimeout: UInt64
    /// `spec.tcpIdleTimeout` in ns (0: none) and the connections it watches.
    private let idleTimeout: UInt64
    private var idle = IdleConnections()
    private var idleSweep: TimerToken?
    /// Connections whose target socket gets its keepalive settings later (`YoungConnections`).
    private var young = YoungConnections()
    private var keepaliveSweep: TimerToken?
    /// How long a connection relays before its target socket gets `spec.keepalive` (ns).
    static let keepaliveDelay: UInt64 = 1_000_000_000
    /// This loop reported a target failure to `share` and has not seen a success since.
    private var sawTargetFailure = false

    /// Accepts per readiness event, so one busy listener cannot starve the rest of the loop.
    private static let acceptBatch = 64

    init(id: ListenerID, socket: ListenerSocket, shared: Bool, spec: ListenerSpec, share: ListenerShare, context: RelayContext) {
        self.id = id
        self.socket = socket
        fd = socket.fd
        self.shared = shared
        self.spec = spec
        self.share = share
        self.context = context
        limit = spec.connectionLimit ?? Int.max
        connectTimeout = spec.connectTimeout.nanoseconds
        idleTimeout = spec.tcpIdleTimeout.map { max($0.nanoseconds, 1_000_000) } ?? 0
    }

    /// Opens, binds and listens (SO_REUSEADDR; IPV6_V6ONLY for IPv6 so that 0.0.0.0:P and
    /// [::]:P can be separate listeners, as docker-proxy runs them).
    static func openSocket(for spec: ListenerSpec) throws(SyscallError) -> Int32 {
        let fd = try Sockets.open(spec.listen.family, .stream)
        do {
            try Sockets.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)")
            if spec.listen.family == .ipv6 {
                try Sockets.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            try Sockets.bind(fd, to: spec.listen)
            try Sockets.listen(fd, backlog: 4096)
            Sockets.setNoDelay(fd)   // inherited by every accepted client: one setsockopt less each
            if let keepalive = spec.keepalive { Sockets.setKeepalive(fd, keepalive) }   // inherited too
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    /// Prepares a socket handed to us (-use-listen-fd): non-blocking, close-on-exec, listening.
    static func adoptSocket(_ fd: Int32, keepalive: TCPKeepalive?) throws(SyscallError) {
        try Posix.makeNonBlockingCloseOnExec(fd)
        try Sockets.listen(fd, backlog: 4096)
        Sockets.setNoDelay(fd)
        if let keepalive { Sockets.setKeepalive(fd, keepalive) }
    }

    private var watched: Epoll.Events { shared ? [.readable, .exclusive] : .readable }

    func activate() throws(SyscallError) {
        try context.loop.register(fd, watched, self)
    }

    /// Shared and limited: each accept first reserves a slot on the statistics board, so the
    /// loops together never exceed the limit.
    private var reserving: Bool { shared && limit != Int.max }

    /// At the connection limit? With one loop its own count is exact; shared listeners ask
    /// the statistics board, which counts every loop's connections.
    private var atLimit: Bool {
        if limit == Int.max { return false }
        if !shared { return connections.count >= limit }
        return (context.stats.activeConnections(id) ?? 0) >= limit
    }

    func handle(fd: Int32, events: Epoll.Events) {
        for _ in 0..<Self.acceptBatch {
            if !parked.isEmpty {
                pause()
                return
            }
            if reserving {
                if !context.stats.reserve(id, limit: limit) {
                    pause(for: 50_000_000)   // other loops' closes do not wake us: re-check
                    return
                }
            } else if atLimit {
                pause()
                return
            }
            let client: Int32
            do {
                // The client's address only when a per-source limit or an allow-list needs it.
                let needsPeer = share.perSourceLimit != nil || !spec.allowedSources.isEmpty || spec.redirect != nil
                let result = needsPeer ? try Sockets.accept(fd, peer: &peer) : try Sockets.accept(fd)
                switch result {
                case .wouldBlock:
                    if reserving { context.stats.closed(id) }
                    return
                case .done(let accepted): client = accepted
                }
            } catch {
                if reserving { context.stats.closed(id) }
                switch error.errno {
                case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory:
                    targetFailed(error)   // no fd for the client means none for its target either
                    pause(for: 100_000_000)
                    return
                case .connectionAborted, .protocolError, .interrupted, Errno(rawValue: EPERM),
                     Errno(rawValue: ENETDOWN), Errno(rawValue: ENOPROTOOPT), Errno(rawValue: EHOSTDOWN),
                     Errno(rawValue: ENONET), Errno(rawValue: EHOSTUNREACH), Errno(rawValue: EOPNOTSUPP),
                     Errno(rawValue: ENETUNREACH):
                    continue   // this one client's problem (see accept(2), "Error handling")
                default:
                    context.stats.failed(id, error.description)
                    reportedFailure = true
                    pause(for: 100_000_000)
                    return
                }
            }
            if reportedFailure {
                reportedFailure = false
                context.stats.listening(id)
            }
            // A redirect listener: the client's original destination names its route.
            var target = spec.target, allowed = spec.allowedSources
            var counters: RouteCounters?
            if let routes = spec.redirect {
                guard let destination = Sockets.originalDestination(client, family: spec.listen.family),
                      let route = routes.route(for: destination) else {
                    Sockets.reset(client)   // not redirected by us, or a port no longer published
                    if reserving { context.stats.closed(id) }
                    continue
                }
                target = route.target
                allowed = route.allowedSources
                counters = route.counters
            }
            // An allow-list: a client from elsewhere is closed before anything is connected.
            if !allowed.isEmpty {
                guard let address = SocketAddress(peer), Subnet.admits(allowed, address.ip) else {
                    // Counted before the close, so a client that saw its end finds it counted.
                    context.stats.refused(id)
                    counters?.refusedOne()
                    Posix.close(client)
                    if reserving { context.stats.closed(id) }
                    continue
                }
            }
            var source: IPAddress?
            if share.perSourceLimit != nil, let address = SocketAddress(peer) {
                guard share.admit(address.ip) else {
                    Sockets.reset(client)   // over its share: refused at once, not queued
                    if reserving { context.stats.closed(id) }
                    continue
                }
                source = address.ip
            }
            if relay(client, source: source, target: target) == .started, let counters, let connection = lastStarted {
                counters.opened()
                routed[ObjectIdentifier(connection)] = counters
            }
        }
    }

    /// Redirect listeners: each connection's port counters, given back when it closes.
    private var routed: [ObjectIdentifier: RouteCounters] = [:]
    /// The connection the last `relay` call started.
    private var lastStarted: TCPConnection?

    /// The client address of the last accept (only asked for with a per-source limit).
    private var peer = sockaddr_storage()

    private enum RelayStart { case started, outOfFDs, failed }

    /// Starts relaying `client`. Out of fds for its target socket, the client is parked
    /// (if `park`) or left to the caller; on other errors it is reset. When `reserving`, the
    /// client already holds a slot on the board (a parked client keeps it).
    @discardableResult
    private func relay(_ client: Int32, source: IPAddress?, target address: SocketAddress, park: Bool = true) -> RelayStart {
        let target: Int32
        do {
            target = try Sockets.open(address.family, .stream)
        } catch {
            targetFailed(error)
            switch error.errno {
            case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory:
                pause(for: 100_000_000)
                if !park { return .outOfFDs }
                if parked.count < Self.maxParked {
                    parked.append((client, source, address))
                } else {
                    dropClient(client, source)
                }
                return .outOfFDs
            default:
                dropClient(client, source)
                return .failed
            }
        }
        // TCP_NODELAY: the client inherits it from the listening socket; the target gets it
        // before its first write that Nagle could hold (`RelayDirection.noDelayBeforeWrite`).
        // Keepalive: the client inherits it too; the target gets it after `keepaliveDelay`
        // (`YoungConnections`), so a short connection never pays for it.
        // The PROXY header names the client socket's two ends; a client gone already has
        // no peer address and is reset like any connection that failed to start.
        var header: [UInt8] = []
        if let version = spec.proxyProtocol {
            guard let from = Sockets.peerAddress(client), let to = try? Sockets.localAddress(client) else {
                Posix.close(target)
                dropClient(client, source)
                return .failed
            }
            header = ProxyHeader.encode(version, source: from, destination: to)
        }
        let connection = TCPConnection(client: client, target: target, source: source, header: header, owner: self, context: context)
        connections[ObjectIdentifier(connection)] = connection
        lastStarted = connection
        if reserving { context.stats.openedReserved(id) } else { context.stats.opened(id) }
        connection.start(connectingTo: address, timeout: connectTimeout)
        return .started
    }

    /// Gives parked clients their target sockets while fds allow; true when none is left.
    @discardableResult
    private func unpark() -> Bool {
        while let client = parked.first, reserving || !atLimit {
            if relay(client.fd, source: client.source, target: client.target, park: false) == .outOfFDs { return false }
            parked.removeFirst()
        }
        return parked.isEmpty
    }

    /// Resets a client that will not be relayed and gives back what it held.
    private func dropClient(_ client: Int32, _ source: IPAddress?) {
        Sockets.reset(client)
        if reserving { context.stats.closed(id) }
        if let source { share.release(source) }
    }

    // MARK: target failures

    /// A target connection failed for want of a local resource: reported once per episode.
    func targetFailed(_ error: SyscallError) {
        guard ListenerShare.isResourceShortage(error) else { return }
        sawTargetFailure = true
        share.targetFailed(error)
    }

    /// A connection reached its target: the end of this loop's failure episode, if any.
    func connectionEstablished(_ connection: TCPConnection) {
        pending.remove(connection)
        if sawTargetFailure && share.targetRecovered() { sawTargetFailure = false }
        if spec.keepalive != nil {
            young.append(connection, now: context.loop.now)
            if keepaliveSweep == nil { scheduleKeepaliveSweep() }
        }
        if idleTimeout != 0 {
            idle.touch(connection, now: context.loop.now)
            if idleSweep == nil { scheduleIdleSweep() }
        }
    }

    // MARK: keepalive of target sockets

    /// Gives the target sockets of connections relaying for `keepaliveDelay` their keepalive
    /// settings, once a second while there are young connections.
    private func scheduleKeepaliveSweep() {
        keepaliveSweep = context.loop.schedule(after: Self.keepaliveDelay) { [weak self] in
            guard let self else { return }
            self.keepaliveSweep = nil
            let now = self.context.loop.now
            while let oldest = self.young.oldest, now &- oldest.youngSince >= Self.keepaliveDelay {
                self.young.remove(oldest)
                if let keepalive = self.spec.keepalive { Sockets.setKeepalive(oldest.target, keepalive) }
            }
            if !self.young.isEmpty && !self.closed { self.scheduleKeepaliveSweep() }
        }
    }

    // MARK: idle timeout

    /// A relaying connection moved bytes.
    func transferred(_ connection: TCPConnection) {
        if idleTimeout != 0 { idle.touch(connection, now: context.loop.now) }
    }

    /// Resets the connections idle for `idleTimeout`, checking every quarter of it (at most
    /// every second), only while there are connections to watch.
    private func scheduleIdleSweep() {
        let interval = max(min(idleTimeout / 4, 1_000_000_000), 10_000_000)
        idleSweep = context.loop.schedule(after: interval) { [weak self] in
            guard let self else { return }
            self.idleSweep = nil
            let now = self.context.loop.now
            while let oldest = self.idle.oldest, now &- oldest.lastActive >= self.idleTimeout {
                oldest.close(reset: true)   // removes it from `idle`
            }
            if !self.idle.isEmpty && !self.closed { self.scheduleIdleSweep() }
        }
    }

    // MARK: connect timeouts

    /// A connection started a connect that did not complete at once.
    func connectPending(_ connection: TCPConnection) {
        pending.append(connection)
        if pendingSweep == nil { scheduleConnectSweep() }
    }

    /// A connection's connect completed, failed, or the connection closed.
    func connectDone(_ connection: TCPConnection) {
        pending.remove(connection)
    }

    /// Checks the oldest pending connects every quarter timeout (at most 1 s, at least 10 ms),
    /// only while there are any.
    private func scheduleConnectSweep() {
        let interval = max(min(connectTimeout / 4, 1_000_000_000), 10_000_000)
        pendingSweep = context.loop.schedule(after: interval) { [weak self] in
            guard let self else { return }
            self.pendingSweep = nil
            let now = self.context.loop.now
            while let oldest = self.pending.oldest, oldest.connectDeadline <= now {
                oldest.close(reset: true)   // removes it from `pending`
            }
            if !self.pending.isEmpty && !self.closed { self.scheduleConnectSweep() }
        }
    }

    // MARK: closing

    /// Called by a connection once it closed its sockets.
    func connectionClosed(_ connection: TCPConnection) {
        guard connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        if lastStarted === connection { lastStarted = nil }
        routed.removeValue(forKey: ObjectIdentifier(connection))?.closed()
        idle.remove(connection)
        young.remove(connection)
        if let source = connection.source { share.release(source) }
        context.stats.closed(id)
        if onDrained != nil {
            if connections.isEmpty { finishDraining() }
            return
        }
        if !parked.isEmpty && !unpark() { return }
        if paused && backoff == nil && !atLimit { resume() }
    }

    private func pause() {
        guard !paused, !closed, socket != nil else { return }
        paused = true
        context.loop.deregister(fd)   // (an exclusive registration cannot be modified)
    }

    private func pause(for nanoseconds: UInt64) {
        pause()
        backoff?.cancel()
        backoff = context.loop.schedule(after: nanoseconds) { [weak self] in
            guard let self else { return }
            self.backoff = nil
            // Still out of fds: try again later. The fds may be freed by another loop's
            // connections, whose closes do not wake this one.
            if !self.unpark() { self.pause(for: 100_000_000); return }
            if self.atLimit { self.pause(for: 50_000_000) } else { self.resume() }
        }
    }

    private func resume() {
        guard paused, !closed, socket != nil else { return }
        paused = false
        do {
            try context.loop.register(fd, watched, self)
        } catch {
            context.stats.failed(id, error.description)
            reportedFailure = true
            pause(for: 100_000_000)
        }
    }

    /// Stops accepting and releases the listening socket at once, so new clients are refused
    /// rather than left in a backlog nobody reads; the connections relayed run to their end.
    func drain(then done: @escaping () -> Void) {
        guard !closed, socket != nil else { done(); return }
        backoff?.cancel()
        backoff = nil
        if !paused { context.loop.deregister(fd) }
        paused = true
        socket = nil
        for client in parked { dropClient(client.fd, client.source) }
        parked.removeAll()
        onDrained = done
        if connections.isEmpty { finishDraining() }
    }

    private func finishDraining() {
        let done = onDrained
        onDrained = nil
        shutdown()
        done?()
    }

    func shutdown() {
        guard !closed else { return }
        closed = true
        backoff?.cancel()
        pendingSweep?.cancel()
        idleSweep?.cancel()
        keepaliveSweep?.cancel()
        // The socket closes when the last loop's listener lets go of it; a drained listener
        // already did, and its fd number may be reused by then.
        if socket != nil { context.loop.deregister(fd) }
        socket = nil   // this loop's hold on the listening socket ends here
        for client in parked { dropClient(client.fd, client.source) }
        parked.removeAll()
        for connection in Array(connections.values) { connection.close(reset: true) }
    }
}
