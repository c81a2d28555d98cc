#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress
import SystemCalls

/// A bound UDP socket relaying datagrams per client through `UDPFlow`s.
///
/// Receives and sends in batches (recvmmsg/sendmmsg); consecutive datagrams of one client
/// go to the target in one sendmmsg, equal-sized runs of them as UDP GSO messages (the
/// kernel's per-datagram send path was most of the relay's CPU time in profiles). Packet info (IP_PKTINFO / IPV6_RECVPKTINFO) tells which
/// local address each client used, so a wildcard listener replies from that same address.
/// The flow table is bounded and silent flows expire after `spec.udpIdleTimeout`. A full
/// table gives up the least recently active flow of the client address with the most flows
/// (see `FlowTable`), and with `spec.perSourceLimit` a client address at its limit has its
/// own least recently active flow replaced: either way one client flooding new flows
/// (thousands of source ports) recycles only its own. Running out of fds or ports for flow
/// sockets is reported once per episode.
///
/// Concurrency model: confined to the event loop thread.
final class UDPListener: EventHandler, RelayListener {
    let id: ListenerID
    let fd: Int32
    /// Keeps the socket open until `shutdown` (UDP is served by one loop only).
    private var socket: ListenerSocket?
    private let spec: ListenerSpec
    private let share: ListenerShare
    private let context: RelayContext
    /// A flow socket could not be opened (reported); cleared by the next flow that opens.
    private var sawTargetFailure = false
    private var flows = FlowTable()
    private let maxFlows: Int
    private let idleTimeout: UInt64
    private var sweepTimer: TimerToken?
    private var closed = false
    /// Whether replies to clients may use UDP GSO (false once the kernel refused it).
    private var replyGSO = true
    /// `spec.adoptedFlows` not yet taken into the table (until `activate`; closed by `shutdown`).
    private var pendingAdoption: [UDPFlowHandover]

    /// Batches per readiness event, so one busy socket cannot starve the rest of the loop.
    private static let batchesPerEvent = 8

    init(id: ListenerID, socket: ListenerSocket, spec: ListenerSpec, share: ListenerShare, context: RelayContext) {
        self.id = id
        self.socket = socket
        fd = socket.fd
        self.spec = spec
        self.share = share
        self.context = context
        maxFlows = max(1, spec.connectionLimit ?? ListenerSpec.defaultUDPFlowLimit)
        idleTimeout = max(spec.udpIdleTimeout.nanoseconds, 1_000_000)
        pendingAdoption = spec.adoptedFlows
    }

    /// Opens and binds (no SO_REUSEADDR: for UDP it would let a second relay share the port
    /// silently; IPV6_V6ONLY for IPv6) and turns on packet info where it is needed.
    static func openSocket(for spec: ListenerSpec) throws(SyscallError) -> Int32 {
        let fd = try Sockets.open(spec.listen.family, .datagram)
        do {
            if spec.listen.family == .ipv6 {
                try Sockets.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, "setsockopt(IPV6_V6ONLY)")
            }
            try Sockets.bind(fd, to: spec.listen)
            if needsPacketInfo(spec.listen, spec) { try Sockets.enablePacketInfo(fd, spec.listen.family) }
            Sockets.setBufferSizes(fd, bytes: socketBufferBytes)
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    /// Prepares a bound socket handed to us (-use-listen-fd).
    static func adoptSocket(_ fd: Int32, for spec: ListenerSpec) throws(SyscallError) {
        try Posix.makeNonBlockingCloseOnExec(fd)
        let local = try Sockets.localAddress(fd)
        if needsPacketInfo(local, spec) { try Sockets.enablePacketInfo(fd, local.family) }
        Sockets.setBufferSizes(fd, bytes: socketBufferBytes)
    }

    /// Packet info (each datagram's destination) lets a wildcard listener reply from the
    /// address its client sent to. A socket bound to one address receives datagrams for that
    /// address only and replies from it anyway, so it goes without: that saves the kernel a
    /// control message per datagram (ip_cmsg_recv_offset was 2.6 % of the relay's CPU under
    /// a 1,400-byte flood). Redirect listeners keep it (their datagrams were redirected to
    /// them; the reply source stays what the kernel reported).
    static func needsPacketInfo(_ local: SocketAddress, _ spec: ListenerSpec) -> Bool {
        local.ip.isUnspecified || spec.redirect != nil
    }

    /// Socket buffers for the listener and every flow: datagrams arriving while the loop is
    /// busy wait here instead of being dropped (the default ~200 KiB is ~150 datagrams).
    static let socketBufferBytes: Int32 = 4 << 20
    /// Smaller for flows: there can be thousands, and each mostly carries one client's replies.
    static let flowBufferBytes: Int32 = 1 << 20

    func activate() throws(SyscallError) {
        // Before the socket is read: a handed-over client's next datagram finds its flow.
        adoptFlows()
        try context.loop.register(fd, .readable, self)
        scheduleSweep()
    }

    // MARK: handover (relay --replace)

    /// Takes the flows a previous relay handed over into the table, each keeping its silence so
    /// far; the listener's limits and allow-list apply as to new flows, and where they refuse,
    /// the most recently active flows are kept (what is refused is closed). Inserted least
    /// recently active first, so the activity lists stay ordered.
    private func adoptFlows() {
        // Newest first; between equal silences (milliseconds) the later in the handover, which
        // lists them least recently active first.
        let handed = pendingAdoption.enumerated().sorted {
            ($0.element.idleMilliseconds, -$0.offset) < ($1.element.idleMilliseconds, -$1.offset)
        }.map(\.element)
        pendingAdoption = []
        var kept: [UDPFlowHandover] = []
        var clients = Set<SocketAddress>()
        var perSource: [IPAddress: Int] = [:]
        for flow in handed {
            let fromSource = perSource[flow.client.ip, default: 0]
            guard kept.count < maxFlows, share.perSourceLimit.map({ fromSource < $0 }) ?? true, !clients.contains(flow.client),
                  Subnet.admits(spec.allowedSources, flow.client.ip), (try? Posix.makeNonBlockingCloseOnExec(flow.fd)) != nil else {
                Posix.close(flow.fd)
                continue
            }
            kept.append(flow)
            clients.insert(flow.client)
            perSource[flow.client.ip] = fromSource + 1
        }
        let now = context.loop.now
        for flow in kept.reversed() {
            let silence = min(flow.idleMilliseconds, idleTimeout / 1_000_000) * 1_000_000
            // A redirect listener's flow goes on only where its destination's route still
            // leads to the target its socket is connected to, and admits its client.
            var route: RedirectRoutes.Route?
            if let routes = spec.redirect {
                guard let destination = flow.destination, let found = routes.route(for: destination), found.target == flow.target,
                      Subnet.admits(found.allowedSources, flow.client.ip) else {
                    Posix.close(flow.fd)
                    continue
                }
                route = found
            }
            let adopted = UDPFlow(fd: flow.fd, client: flow.client, target: route?.target ?? spec.target, owner: self, now: now &- silence)
            if let route, let routes = spec.redirect {
                adopted.destination = flow.destination
                adopted.counters = route.counters
                adopted.routesVersion = routes.version
            }
            if let source = flow.replySource { adopted.local = (SocketAddress(ip: source, port: 0).storage.0, flow.interfaceIndex) }
            do {
                try context.loop.register(flow.fd, .readable, adopted)
            } catch {
                Posix.close(flow.fd)
                continue
            }
            flows.insert(adopted)
            adopted.counters?.opened()
            context.stats.opened(id)
        }
    }

    /// Duplicates of every flow's socket with what the successor needs to carry it on, least
    /// recently active first (`adoptFlows` relies on that order); a flow whose socket cannot be
    /// duplicated (EMFILE) is left out.
    /// On the loop thread (the engine's `.exportFlows` command): the table is this thread's.
    func exportFlows() -> [UDPFlowHandover] {
        var out: [UDPFlowHandover] = []
        out.reserveCapacity(flows.count)
        let now = context.loop.now
        var next = flows.oldest
        while let flow = next {
            next = flow.next
            guard let copy = Posix.duplicate(flow.fd) else { continue }
            let source = flow.local.flatMap { SocketAddress($0.0)?.ip }
            out.append(UDPFlowHandover(fd: copy, client: flow.client, replySource: source, interfaceIndex: source == nil ? 0 : flow.local?.1 ?? 0,
                                       idleMilliseconds: (now &- min(flow.lastActive, now)) / 1_000_000,
                                       destination: flow.destination, target: spec.redirect == nil ? nil : flow.target))
        }
        return out
    }

    // MARK: client -> target

    func handle(fd: Int32, events: Epoll.Events) {
        guard let batch = try? context.datagrams() else { return }
        for _ in 0..<Self.batchesPerEvent {
            let received: Int
            do {
                guard case .done(let n) = try batch.receive(fd), n > 0 else { return }
                received = n
            } catch {
                return   // a queued ICMP error or similar; nothing to relay
            }
            var start = 0
            while start < received {
                let peer = batch.peer(start)
                let end = batch.runEnd(from: start, before: received)
                if let flow = flow(for: peer) {
                    if let local = batch.local(end - 1) { flow.local = local }
                    _ = try? batch.send(flow.fd, start..<end, gso: &flow.targetGSO)
                    flows.touch(flow, now: context.loop.now)
                }
                start = end
            }
            if received < batch.count { return }
        }
    }

    private func flow(for peer: sockaddr_storage) -> UDPFlow? {
        guard let client = SocketAddress(peer) else { return nil }
        if let routes = spec.redirect { return redirectedFlow(for: client, routes: routes) }
        if let flow = flows[client] { return flow }
        // An allow-list: a datagram from elsewhere opens no flow and is dropped.
        guard Subnet.admits(spec.allowedSources, client.ip) else {
            context.stats.refused(id)
            return nil
        }
        return openFlow(for: client, to: spec.target)
    }

    // MARK: redirect listener

    /// Our own address, which the kernel's redirect wrote into the datagrams (port 0 bound).
    private lazy var localAddress: SocketAddress? = try? Sockets.localAddress(fd)

    /// A silent flow's destination is asked again after this long. The flow is keyed by the
    /// client's address alone: once the conntrack entry that made it has expired (30 s after
    /// the last datagram without a reply, by default), the same client port may be sent to
    /// another published port, which only a fresh lookup tells. Well below that timeout.
    static let revalidateAfter: UInt64 = 10_000_000_000

    /// Redirected clients that got no flow (no conntrack entry, no route, or refused by the
    /// route's allow-list), with the routes version and the time that answer holds for.
    /// Without it every batch of such a client's datagrams asked conntrack again: a netlink
    /// round trip per datagram, which any local user could drive at will against a port
    /// whose allow-list refuses them.
    private var unserved: [SocketAddress: Unserved] = [:]
    private struct Unserved {
        var version: Int
        var until: UInt64
        /// The refusing route's counters (nil: no entry or no route, nothing to count).
        var refusedBy: RouteCounters?
    }
    /// Long enough to cap a flood at a lookup a second per client address, short enough that a
    /// missed conntrack entry is asked again soon; any change of the routes ends it at once.
    static let unservedFor: UInt64 = 1_000_000_000
    /// Bounded: one address per client port, so a port scan fills it; then it starts over.
    static let maxUnserved = 4096

    private func remember(_ client: SocketAddress, version: Int, now: UInt64, refusedBy: RouteCounters?) {
        if unserved.count >= Self.maxUnserved { unserved.removeAll(keepingCapacity: true) }
        unserved[client] = Unserved(version: version, until: now &+ Self.unservedFor, refusedBy: refusedBy)
    }

    /// The flow of a redirected client: found by its address, checked again when the routes
    /// changed or it was silent, else opened for the route of its original destination.
    private func redirectedFlow(for client: SocketAddress, routes: RedirectRoutes) -> UDPFlow? {
        let version = routes.version
        let now = context.loop.now
        var known: SocketAddress?
        if let flow = flows[client] {
            let silent = now &- min(flow.lastActive, now) >= Self.revalidateAfter
            if !silent && flow.routesVersion == version { return flow }
            known = silent ? destination(of: client, routes: routes) : flow.destination
            // Same destination, same route (its counters are the route's identity, kept by
            // `replace` for an unchanged route): the flow carries on.
            if let known, known == flow.destination, let route = routes.route(for: known), route.counters === flow.counters {
                flow.routesVersion = version
                return flow
            }
            drop(flow)
        } else {
            // Asked only without a flow: a served client's datagrams pay nothing for it.
            if let miss = unserved[client] {
                if miss.version == version && now < miss.until {
                    if let counters = miss.refusedBy {
                        context.stats.refused(id)
                        counters.refusedOne()
                    }
                    return nil
                }
                unserved[client] = nil
            }
            known = destination(of: client, routes: routes)
        }
        // No entry, or a destination no route serves: not a port we carry (any more).
        guard let destination = known, let route = routes.route(for: destination) else {
            remember(client, version: version, now: now, refusedBy: nil)
            return nil
        }
        guard Subnet.admits(route.allowedSources, client.ip) else {
            context.stats.refused(id)
            route.counters.refusedOne()
            remember(client, version: version, now: now, refusedBy: route.counters)
            return nil
        }
        guard let flow = openFlow(for: client, to: route.target) else { return nil }
        flow.destination = destination
        flow.counters = route.counters
        flow.routesVersion = version
        route.counters.opened()
        return flow
    }

    private func destination(of client: SocketAddress, routes: RedirectRoutes) -> SocketAddress? {
        guard let local = localAddress else { return nil }
        return routes.destinations?.originalDestination(client: client, redirectedTo: local)
    }

    // MARK: flows

    /// Opens a flow of `client` to `target`, making room under the limits first.
    private func openFlow(for client: SocketAddress, to target: SocketAddress) -> UDPFlow? {
        // Replacements so far by a source at its limit, carried to its group (which a limit of
        // 1 empties and recreates).
        var replaced: Int?
        if let limit = share.perSourceLimit, let source = flows.source(client.ip), source.count >= limit, let own = source.oldest {
            if source.replaced == nil { share.report(.sourceLimitReached(id, source: client.ip, limit: limit)) }
            replaced = (source.replaced ?? 0) + 1
            drop(own, endingEpisode: false)
        } else if flows.count >= maxFlows, let victim = flows.evictionCandidate {
            drop(victim)
        }
        let socket: Int32
        do {
            socket = try Sockets.open(target.family, .datagram)
        } catch {
            targetFailed(error)
            endEpisode(client.ip, replaced)
            return nil
        }
        Sockets.setBufferSizes(socket, bytes: Self.flowBufferBytes)
        let flow = UDPFlow(fd: socket, client: client, target: target, owner: self, now: context.loop.now)
        do {
            _ = try Sockets.connect(socket, to: target)
            try context.loop.register(socket, .readable, flow)
        } catch {
            context.loop.deregister(socket)
            Posix.close(socket)
            targetFailed(error)
            endEpisode(client.ip, replaced)
            return nil
        }
        flows.insert(flow)
        if let replaced { flow.source?.replaced = replaced }
        context.stats.opened(id)
        if sawTargetFailure && share.targetRecovered() { sawTargetFailure = false }
        return flow
    }

    private func targetFailed(_ error: SyscallError) {
        guard ListenerShare.isResourceShortage(error) else { return }
        sawTargetFailure = true
        share.targetFailed(error)
    }

    // MARK: target -> client

    func forwardReplies(of flow: UDPFlow) {
        guard let batch = try? context.datagrams() else { return }
        for _ in 0..<Self.batchesPerEvent {
            let received: Int
            do {
                guard case .done(let n) = try batch.receive(flow.fd), n > 0 else { return }
                received = n
            } catch {
                // ECONNREFUSED: an ICMP port-unreachable from the target; the flow stays.
                continue
            }
            flow.sendToClient(batch, 0..<received, listenerFD: fd, gso: &replyGSO)
            flows.touch(flow, now: context.loop.now)
            if received < batch.count { return }
        }
    }

    // MARK: expiry

    private func scheduleSweep() {
        let interval = max(min(idleTimeout / 2, 1_000_000_000), 10_000_000)
        sweepTimer = context.loop.schedule(after: interval) { [weak self] in
            guard let self, !self.closed else { return }
            self.expireIdleFlows()
            self.scheduleSweep()
        }
    }

    private func expireIdleFlows() {
        let now = MonotonicClock.now()
        while let oldest = flows.oldest, now &- oldest.lastActive >= idleTimeout { drop(oldest) }
    }

    /// Reports the end of a source's limit episode (it holds no flow any more).
    private func endEpisode(_ address: IPAddress, _ replaced: Int?) {
        guard let replaced, flows.source(address) == nil else { return }
        share.report(.sourceLimitEnded(id, source: address, refused: replaced))
    }

    private func drop(_ flow: UDPFlow, endingEpisode: Bool = true) {
        let source = flow.source
        flows.remove(flow)
        flow.counters?.closed()
        if endingEpisode, let source, source.count == 0 { endEpisode(source.address, source.replaced) }
        context.loop.forget(flow.fd)   // our own socket: close removes it from epoll
        Posix.close(flow.fd)
        context.stats.closed(id)
    }

    func shutdown() {
        guard !closed else { return }
        closed = true
        for flow in pendingAdoption { Posix.close(flow.fd) }   // never activated
        pendingAdoption = []
        sweepTimer?.cancel()
        while let oldest = flows.oldest { drop(oldest) }
        context.loop.deregister(fd)
        socket = nil   // the socket closes now: the address is free again
    }

    /// Replies leave through the listening socket, so flows cannot outlive it: a UDP
    /// listener drains by closing. After a handover the successor holds duplicates of the
    /// listening and flow sockets, so closing ours only stops this relay reading them.
    func drain(then done: @escaping () -> Void) {
        shutdown()
        done()
    }
}
