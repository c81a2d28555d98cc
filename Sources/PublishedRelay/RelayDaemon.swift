#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Logging
import NFTables
import NFTRelay
import PortForwarding
import Synchronization
import SystemErrno
import NetworkAddress

public enum RelayDaemonError: Error, Sendable, CustomStringConvertible {
    case alreadyRunning(table: String, name: String)
    case system(String, Errno)

    public var description: String {
        switch self {
        case .alreadyRunning(let table, let name):
            return "a relay for table \(table) already runs in this network namespace (another process holds the status socket \(name) and its lock)"
        case .system(let call, let e):
            return "\(call) failed: \(e.message)"
        }
    }
}

/// `nftfwd relay`: serves, through one relay engine, every mapping of the table that only
/// userland can carry (see `RelayPlan`), and follows the table live.
///
/// Following: every 200 ms the daemon reads the ruleset generation id (one small netlink
/// round trip); when it changed, it reads the table and opens or closes listeners to match,
/// so a mapping added or removed with nftfwd is served, or stops being served, within a
/// fraction of a second. A port that cannot be bound is reported and retried every second;
/// it never stops the others.
///
/// With `restoreFrom`, the same polling also keeps the table equal to that saved file (see
/// `TableRestorer`): a table flushed or changed behind nftfwd's back is put back within a poll.
///
/// Concurrency model: `run()` owns the calling thread (table following, signal waiting).
/// The engine runs its loop on a thread of its own, the status server on another; both read
/// the daemon's state through `state`, a lock-protected value.
public final class RelayDaemon {
    public let table: String
    private let layout: TableLayout
    private let logger: Logger
    let state = SharedState()
    /// Where Prometheus scrapes (`--metrics`), or nil.
    private let metricsAddress: SocketAddress?

    struct State: Sendable {
        var active: [RelayPort: ListenerID] = [:]
        var failed: [RelayPort: String] = [:]
        var desired: [RelayPort] = []
        /// Mappings served through the loopback redirect (no socket of their own), one status
        /// entry each: the mapping and its host side as the log names it.
        var redirected: [(mapping: Mapping, listen: String)] = []
        var problem: String?
        /// `--replace`: sockets taken from the relay we replace, not yet adopted by a listener
        /// (published ports' and the loopback redirect's).
        var adoptable: [HandedSocket: Int32] = [:]
        /// `--replace`: the UDP flows taken with them, by their listener's address.
        var adoptableFlows: [SocketAddress: [(HandedFlow, Int32)]] = [:]
        /// Set (by the takeover thread) once our successor adopted our sockets: how long it
        /// lets us drain.
        var handedOver: Int?
    }

    /// Per published port.
    public struct Limits: Sendable {
        /// TCP: connections at once (nil: no limit); UDP: flows (nil: the engine's 4096).
        public var connections: Int?
        public var udpIdle: Duration
        /// TCP: a connection moving no byte for this long is reset (nil: never).
        public var tcpIdle: Duration?
        /// Connections (TCP) or flows (UDP) per client address (nil: no limit).
        public var perSource: Int?
        public init(connections: Int? = nil, udpIdle: Duration = .seconds(90), tcpIdle: Duration? = nil, perSource: Int? = nil) {
            self.connections = connections
            self.udpIdle = udpIdle
            self.tcpIdle = tcpIdle
            self.perSource = perSource
        }
    }
    private let limits: Limits
    private var redirect: RedirectBox?
    /// Loopback TCP clients through the kernel's redirect to two sockets (no bind per port).
    /// Off by default for now: under the soak (the table deleted and restored while clients
    /// connect) a redirected port refuses connections until the relay has written its
    /// redirect ports back, where a bound per-port listener never stops.
    private let loopbackRedirect: Bool
    /// Our redirect adopted the sockets of the relay we take over from, which has not let go
    /// yet (until our confirmation): the maps' elements name its sockets too, so a start-up
    /// failing before then must leave them to it.
    private var redirectShared = false
    /// The mappings the redirect served at the last reload, for the log's serving/stopped lines.
    private var redirectedBefore: Set<Mapping> = []
    private let restorer: TableRestorer?
    /// How long the plan waits for a table the restorer has checked, when a --save change holds
    /// FILE's lock (it holds it for its commit and the file's write: milliseconds) or the table
    /// keeps moving between the check and the read, before following the table as it is.
    static let holdPatience = 3.0

    /// The kernel the daemon follows (`NFTables` of this namespace; tests: `NFTablesFake`).
    private let makeSession: () throws -> any NFTablesSession

    /// `restoreFrom`: a saved state file the table is kept equal to; it must be readable now.
    /// `session` opens the kernel the table is followed in (and restored to).
    /// With `replace`, first takes over from the relay serving the table here, if one runs
    /// (`TakeoverEndpoint`); handed over in turn, the daemon drains for at most `drainTimeout`.
    private let replace: Bool
    private let drainTimeout: Double
    /// systemd's notification socket (`SystemdNotifier.fromEnvironment()`): READY=1 once the
    /// relay serves, and MAINPID when it took over from the unit's main process.
    public var notifier: SystemdNotifier?
    /// Runs once the relay serves (its status socket answers, taken sockets are ours).
    public var onServing: (() -> Void)?

    public init(table: String, limits: Limits = Limits(), metrics: SocketAddress? = nil,
                restoreFrom: String? = nil, replace: Bool = false, drainTimeout: Double = 60, logger: Logger = .relay(),
                loopbackRedirect: Bool = false,
                session: (() throws -> any NFTablesSession)? = nil) throws {
        self.replace = replace
        self.drainTimeout = drainTimeout
        try TableLayout.validate(tableName: table)
        self.loopbackRedirect = loopbackRedirect
        self.makeSession = session ?? { try NFTables() }
        self.table = table
        self.limits = limits
        self.layout = TableLayout(name: table)
        self.metricsAddress = metrics
        self.logger = logger
        restorer = try restoreFrom.map { try TableRestorer(path: $0, table: table, logger: logger, session: session) }
    }

    private func log(_ text: String) { logger.info("\(text)") }
    private func warn(_ text: String) { logger.warning("\(text)") }

    /// Serves until SIGTERM or SIGINT; returns the signal that stopped it. SIGHUP reads the
    /// table again at once.
    public func run(pollInterval: Duration = .milliseconds(200)) throws -> Int32 {
        // Blocked before any thread exists, so every thread inherits the mask and the
        // signals wait for sigtimedwait below.
        Processes.blockSignals([SIGTERM, SIGINT, SIGHUP])
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, s) }

        let nft = try makeSession()
        let eventsRedirect = RedirectBox()
        // --replace: the running relay's sockets before anything, so that ours are the very
        // same sockets (their queues included) from our first instant; it serves on until we
        // confirm, so any failure up to then leaves it as it was.
        let taken = replace ? try TakeoverClient.take(table: table, drainSeconds: Int(drainTimeout)) : nil
        var adopting = false   // from then on the descriptors are in `state.adoptable` or a listener's
        defer { if !adopting { taken?.abandon() } }
        // Two loops share the accepting on two or more CPUs (short connections were 1.3x
        // faster so in the relay benchmark); one is enough on a single CPU.
        let engine = try RelayEngine(loops: sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 ? 2 : 1,
                                     events: { [state, logger, eventsRedirect] event in RelayDaemon.log(event, state: state, redirect: eventsRedirect, logger: logger) })
        try engine.start()
        defer { engine.stop() }
        // Its sockets open at the first mapping it carries: a relay with nothing to redirect
        // holds no socket (and no local port) for it.
        let redirect = eventsRedirect
        self.redirect = loopbackRedirect ? redirect : nil
        // After a handover the redirect maps are our successor's (LoopbackRedirect+Takeover).
        var handedOff = false
        defer { if !handedOff && !redirectShared { redirect.value?.release(nft: nft, table: layout.table) } }
        if let taken {
            state.withLock { s in
                for (socket, fd) in taken.sockets {
                    if case .flow(let flow) = socket.role { s.adoptableFlows[socket.listen, default: []].append((flow, fd)) } else { s.adoptable[socket] = fd }
                }
            }
            adopting = true
            defer {
                // What no listener adopted (our reading of the table does not want it) is ours to close.
                let left = state.withLock { s in
                    defer { s.adoptable = [:]; s.adoptableFlows = [:] }
                    return Array(s.adoptable.values) + s.adoptableFlows.values.flatMap { $0.map(\.1) }
                }
                for fd in left { Posix.close(fd) }
            }
            guard case .followed = reload(session: nft, engine: engine, expecting: nil) else {
                taken.disconnect()
                throw TakeoverClient.Failure.failed("cannot read table \(table); the running relay serves on")
            }
            // Before the confirmation lets the old relay drain and exit: under systemd the
            // unit's main process must already be us when it goes (systemd reads notifications
            // before exits), or systemd would take its exit for the unit's end.
            notifier?.send(["MAINPID=\(getpid())"])
            try taken.confirm()
            redirectShared = false
            let flows = taken.sockets.filter { if case .flow = $0.0.role { return true } else { return false } }.count
            log("took over \(taken.sockets.count - flows) socket(s) and \(flows) UDP flow(s) from the relay that served table \(table)")
            // Redirect sockets we did not adopt close with the relay we replaced: their ports
            // leave the maps, so loopback clients reach our per-port sockets.
            let unadopted = state.withLock { s in s.adoptable.keys.filter { $0.role == .redirect } }
            if !unadopted.isEmpty {
                do { try LoopbackRedirect.release(handed: unadopted, nft: nft, table: layout.table) } catch {
                    warn("cannot take the replaced relay's loopback redirect ports out of the table: \(error)")
                }
            }
        }
        // Each server is stopped (its socket closed) however the start-up below ends. After a
        // takeover the old relay lets go of the status lock within a poll of our confirmation.
        let status = try StatusServer(table: table, lockWait: taken == nil ? nil : 10) { [state, table, restoreFrom = restorer?.path] in
            RelayDaemon.status(state: state, engine: engine, redirect: redirect, table: table, restoreFrom: restoreFrom)
        }
        defer { status.stop() }
        let metrics = try metricsAddress.map { address in
            try MetricsServer(address: address) { [state, table, layout] in
                RelayMetrics.render(status: RelayDaemon.status(state: state, engine: engine, redirect: redirect, table: table), layout: layout)
            }
        }
        defer { metrics?.stop() }
        try status.start()
        try metrics?.start()
        let takeover = try TakeoverServer(table: table, sockets: { [state, engine, redirect] in
            let ports = state.withLock { s in Dictionary(s.active.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a }) }
            let sockets = engine.duplicateSockets().compactMap { id, fd -> (HandedSocket, Int32)? in
                if let port = ports[id] { return (HandedSocket(proto: port.proto, listen: port.listen), fd) }
                if let socket = redirect.value?.handedSocket(for: id) { return (socket, fd) }
                Posix.close(fd)
                return nil
            }
            // The flows' sockets too (taken on the loop that owns them), so their targets see
            // the same peer across the takeover: each named with its listener and target.
            let flows = engine.duplicateFlows().compactMap { id, flow -> (HandedSocket, Int32)? in
                if let port = ports[id], port.proto == .udp {
                    return (HandedSocket(role: .flow(HandedFlow(target: port.target, flow)), proto: .udp, listen: port.listen), flow.fd)
                }
                // A flow of the UDP redirect: named with its destination, whose route the successor looks up.
                if let socket = redirect.value?.handedSocket(for: id), socket.proto == .udp, let target = flow.target, flow.destination != nil {
                    return (HandedSocket(role: .flow(HandedFlow(target: target, flow)), proto: .udp, listen: socket.listen), flow.fd)
                }
                Posix.close(flow.fd)
                return nil
            }
            return sockets + flows
        }, handedOver: { [state] drain in
            state.withLock { $0.handedOver = drain }
            kill(getpid(), SIGHUP)   // wakes the loop below at once
        })
        defer { takeover.stop() }
        try takeover.start()
        let restoring = restorer.map { " and keeping it equal to \($0.path)" } ?? ""
        log("following table inet \(table)\(restoring) (status: \(status.path))")
        if let metrics { log("serving Prometheus metrics on http://\(metrics.address)/metrics") }

        var generation: UInt32?
        var lastRetry = monotonicNow()
        var restoreDue: Double?   // when a restore check that could not finish is tried again
        // With --restore-from, the plan follows only the table the restorer found equal to FILE
        // (the generation it read or wrote): while a --save change holds FILE's lock, or when the
        // table moved again between the check and the read (a flush at that moment), what we
        // read is a state about to be set right, and serving it would stop every port for a
        // poll. Since when the plan has been held so; past the patience it follows the table.
        var holdSince: Double?
        var announced = false
        let interval = pollInterval.components
        var timeout = timespec(tv_sec: Int(interval.seconds), tv_nsec: Int(interval.attoseconds / 1_000_000_000))
        while true {
            let current = try? nft.generation()
            let fileChanged = restorer?.fileChanged() ?? false
            let restoreNow = restoreDue.map { monotonicNow() >= $0 } ?? false
            if current == nil || current != generation || fileChanged || restoreNow {
                var hold = false
                var verified: UInt32?
                if let restorer, current != nil {
                    // Repaired first, so the plan below is computed from the repaired table.
                    let outcome = restorer.enforce()
                    switch outcome {
                    case .busy:
                        hold = true
                        restoreDue = monotonicNow()
                    case .retry(let after):
                        // Could not set the table right for now (a batch refused, FILE unreadable):
                        // what the table holds is not what FILE asks, so it is held like a busy
                        // FILE, within the same patience, rather than followed at once.
                        hold = true
                        restoreDue = monotonicNow() + after
                    case .inSync, .restored:
                        // Restored but not read back at our own commit: it moved again already.
                        verified = restorer.verifiedGeneration
                        // A restore that took is progress: the patience below is for a restorer
                        // that cannot set the table right, not for one a flapping table keeps busy.
                        if outcome == .restored { holdSince = nil }
                        hold = verified == nil
                        restoreDue = hold ? monotonicNow() : nil
                    }
                }
                let patient = holdSince.map { monotonicNow() - $0 < RelayDaemon.holdPatience } ?? true
                if hold && patient {
                    holdSince = holdSince ?? monotonicNow()
                } else {
                    switch reload(session: nft, engine: engine, expecting: patient ? verified : nil) {
                    case .followed(let claimed):
                        // Our own write of the redirect ports moved the generation on from the
                        // one read: what we serve is that table, so it is not read again (a
                        // 120,000-element table costs seconds of kernel time to dump).
                        if let claimed, claimed.from == current { generation = claimed.to } else { generation = current }
                        holdSince = nil
                    case .failed:   // tried again at the next poll, changed ruleset or not
                        generation = nil
                    case .moved:
                        holdSince = holdSince ?? monotonicNow()
                        restoreDue = monotonicNow()
                    }
                }
            } else if !state.withLock({ $0.failed.isEmpty }) && monotonicNow() - lastRetry >= 1 {
                lastRetry = monotonicNow()
                reconcile(engine: engine)
            }
            if !announced {
                // Ready once the first reading of the table is served (or held, with
                // --restore-from, for the restorer): `systemctl start` returns then.
                announced = true
                notifier?.send(taken == nil ? ["READY=1"] : ["MAINPID=\(getpid())", "READY=1"])
                onServing?()
            }
            let signal = sigtimedwait(&signals, nil, &timeout)
            if let drain = state.withLock({ $0.handedOver }) {
                handedOff = true
                handOver(engine: engine, status: status, takeover: takeover, metrics: metrics, drainSeconds: Double(drain))
                return 0
            }
            if signal == SIGHUP {
                log("SIGHUP, reading the table again")
                restorer?.resume()
                generation = nil
            } else if signal > 0 {
                log("signal \(signal), stopping")
                return signal
            }
        }
    }

    /// Our successor holds our sockets: stop accepting (closing our copies only), give up the
    /// status name and lock to it, let open connections end, for at most the `drainSeconds` our
    /// successor gave (its --drain-timeout).
    private func handOver(engine: RelayEngine, status: StatusServer, takeover: TakeoverServer, metrics: MetricsServer?, drainSeconds: Double) {
        let active = state.withLock { s in defer { s.active = [:]; s.desired = [] }; return s.active }
        for id in active.values { engine.removeListener(id, graceful: true) }
        redirect?.value?.stopAccepting()
        takeover.stop()
        status.stop()
        metrics?.stop()
        log("handed over to the new relay; draining open connections for at most \(Int(drainSeconds)) s")
        let deadline = monotonicNow() + drainSeconds
        while engine.heldListeners > 0 && monotonicNow() < deadline { Posix.sleep(nanoseconds: 20_000_000) }
        log(engine.heldListeners == 0 ? "drained, exiting" : "drain timeout reached, exiting")
    }

    enum Reload: Equatable {
        /// Served; `claimed`: our redirect ports were written into the snapshot read at
        /// `from`, which made generation `to` (the same table otherwise).
        case followed(claimed: Claim?)
        case failed, moved
    }
    struct Claim: Equatable { var from: UInt32, to: UInt32 }

    /// Reads the table and serves what it says: `.failed` if the table could not be read,
    /// `.moved` (nothing changed) if it was read at another generation than `expecting`.
    func reload(session: any NFTablesSession, engine: RelayEngine, expecting: UInt32?) -> Reload {
        // Scanning, not dumping, a large map: a 120,000-element dump costs the kernel 2 s.
        let reader = TableReader(layout: layout, session: session, scanningMapsAbove: TableReader.relayDumpLimit)
        var claimed: Claim?
        do {
            let snapshot = try reader.snapshot()
            if let expecting, snapshot.generation != expecting { return .moved }
            // The loopback redirect carries what it can when the table has it (a table of
            // nftfwd 0.3 gets it at its next change) and our sockets are in its maps.
            var useRedirect = false
            let udp = snapshot.upgrade.hasUDPRedirect   // a table of layout 0.4 redirects TCP only
            if let box = redirect, snapshot.exists, snapshot.upgrade.hasRedirect,
               snapshot.mappings.contains(where: { RelayPlan.isRedirected($0.mapping, udp: udp) }) || box.value != nil {
                do {
                    let redirect = try box.value ?? {
                        // --replace: the replaced relay's redirect sockets, whose ports the maps
                        // name; clients arrive at once, so their routes are served from the start.
                        let handing = state.withLock { s in s.adoptable.keys.contains { $0.role == .redirect } }
                        let first = handing ? snapshot.mappings.map(\.mapping).filter { RelayPlan.isRedirected($0, udp: udp) } : []
                        let created = try LoopbackRedirect(engine: engine, limits: limits, routes: first) { proto, listen in
                            self.state.withLock { s in
                                // The socket, and for UDP the flows riding it (keyed by its address).
                                guard let socket = LoopbackRedirect.handed(Array(s.adoptable.keys), proto, listen),
                                      let fd = s.adoptable.removeValue(forKey: socket) else { return nil }
                                let flows = (s.adoptableFlows.removeValue(forKey: socket.listen) ?? []).map { $0.0.handover(fd: $0.1) }
                                return (fd, flows)
                            }
                        }
                        box.value = created
                        redirectShared = handing
                        log("loopback TCP and UDP clients of published ports are redirected to \(created.description)\(handing ? " (taken over)" : "")")
                        return created
                    }()
                    claimed = try redirect.claim(nft: session, table: layout.table, generation: snapshot.generation)
                        .map { Claim(from: snapshot.generation, to: $0) }
                    useRedirect = true
                } catch {
                    warn("cannot write the loopback redirect's ports into the table: \(error); serving every port with a socket of its own")
                }
            }
            var ports: [RelayPort] = []
            var redirected: [(mapping: Mapping, listen: String)] = []
            for published in snapshot.mappings {
                let mapping = published.mapping
                if useRedirect && RelayPlan.isRedirected(mapping, udp: udp) {
                    // One route per mapping, never one per port: a 60,000-port range costs one entry.
                    redirected.append((mapping, PortRun.of(mapping).listenDescription))
                } else {
                    ports += RelayPlan.ports(for: mapping)
                }
            }
            // Routes first: a port moving from its own socket to the redirect is never unserved.
            redirect?.value?.serve(redirected.map(\.mapping))
            let now = Set(redirected.map(\.mapping))
            for mapping in redirectedBefore.subtracting(now).sorted() { log("stopped \(PortRun.of(mapping).listenDescription) (\(mapping.label))") }
            for (mapping, _) in redirected where !redirectedBefore.contains(mapping) { log("serving \(PortRun.of(mapping)) (\(mapping.label))") }
            redirectedBefore = now
            state.withLock { $0.desired = ports; $0.redirected = redirected; $0.problem = nil }
        } catch {
            // Keep serving what we had: a table we cannot read says nothing reliable.
            let problem = "\(error)"
            let changed = state.withLock { s -> Bool in
                defer { s.problem = problem }
                return s.problem != problem
            }
            if changed { warn("\(problem)") }
            return .failed
        }
        reconcile(engine: engine)
        return .followed(claimed: claimed)
    }

    /// Closes listeners no longer wanted and opens the missing ones. Consecutive ports of
    /// one mapping are logged as one line (`PortRun`): a 10,000-port range is one line.
    func reconcile(engine: RelayEngine) {
        let (desired, active) = state.withLock { ($0.desired, $0.active) }
        let wanted = Set(desired)
        var stopped: [RelayPort] = []
        for (port, id) in active where !wanted.contains(port) {
            engine.removeListener(id, graceful: true)   // open connections run to their end
            state.withLock { $0.active[port] = nil }
            stopped.append(port)
        }
        for run in PortRun.runs(stopped) { log("stopped \(run.listenDescription) (\(run.mapping))") }
        state.withLock { s in s.failed = s.failed.filter { wanted.contains($0.key) } }
        var served: [RelayPort] = []
        var failures: [String: [RelayPort]] = [:]   // ports failing for a reason not yet logged
        for port in desired where active[port] == nil {
            let adopted = state.withLock { $0.adoptable.removeValue(forKey: HandedSocket(proto: port.proto, listen: port.listen)) }
            // Its handed-over flows go with the listener's socket, those to this target only
            // (the table may have moved the port elsewhere since).
            var flows: [UDPFlowHandover] = []
            if adopted != nil && port.proto == .udp {
                for (flow, fd) in state.withLock({ $0.adoptableFlows.removeValue(forKey: port.listen) }) ?? [] {
                    if flow.target == port.target { flows.append(flow.handover(fd: fd)) } else { Posix.close(fd) }
                }
            }
            do {
                let id = try engine.addListener(ListenerSpec(proto: port.proto, listen: port.listen, target: port.target,
                                                             connectionLimit: limits.connections, udpIdleTimeout: limits.udpIdle,
                                                             tcpIdleTimeout: limits.tcpIdle, perSourceLimit: limits.perSource, preopenedFD: adopted,
                                                             allowedSources: port.allow, proxyProtocol: port.proxyProtocol, adoptedFlows: flows))
                state.withLock { $0.active[port] = id; $0.failed[port] = nil }
                served.append(port)
            } catch {
                // Not adopted: ours to close; the next try binds anew.
                if let adopted { Posix.close(adopted) }
                for flow in flows { Posix.close(flow.fd) }
                let reason = "\(error.underlying)"
                let isNew = state.withLock { s -> Bool in
                    defer { s.failed[port] = reason }
                    return s.failed[port] != reason
                }
                if isNew { failures[reason, default: []].append(port) }
            }
        }
        for run in PortRun.runs(served) { log("serving \(run) (\(run.mapping))") }
        for (reason, ports) in failures.sorted(by: { $0.key < $1.key }) {
            for run in PortRun.runs(ports) {
                let family = run.first.listen.family == .ipv4 ? "4" : "6"
                warn("cannot serve \(run.listenDescription): listen \(run.first.proto)\(family) \(run.first.listen): \(reason)\(run.count > 1 ? " (and the \(run.count - 1) ports after it)" : ""); retrying every second")
            }
        }
    }

    /// One log line for an engine event (each comes once per episode), naming the port.
    static func log(_ event: RelayEvent, state: SharedState, redirect: RedirectBox?, logger: Logger) {
        func port(_ id: ListenerID) -> String {
            let found = state.withLock { s in s.active.first { $0.value == id }?.key }
            if let found { return "\(found.listen)/\(found.proto) (\(found.mapping))" }
            return redirect?.value?.name(of: id) ?? "\(id)"
        }
        switch event {
        case .targetResourcesExhausted(let id, let error):
            let what = error.errno == Errno(rawValue: EADDRNOTAVAIL) ? "out of local ports" : "out of descriptors or socket memory"
            logger.warning("\(port(id)): cannot open connections to the target: \(error) (\(what)); further failures are counted until one succeeds")
        case .targetResourcesRecovered(let id, let failures):
            logger.notice("\(port(id)): connections to the target succeed again (\(failures) failed)")
        case .sourceLimitReached(let id, let source, let limit):
            logger.warning("\(port(id)): client \(source) reached the per-source limit (\(limit)); its further connections are refused until it has none")
        case .sourceLimitEnded(let id, let source, let refused):
            logger.notice("\(port(id)): client \(source) holds no connection any more (\(refused) refused by the per-source limit)")
        }
    }

    static func status(state: SharedState, engine: RelayEngine, redirect box: RedirectBox? = nil, table: String, restoreFrom: String? = nil) -> RelayStatus {
        let stats = Dictionary(engine.stats().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let redirect = box?.value
        return state.withLock { s in
            let ports = s.desired.map { port -> RelayStatus.Port in
                let listen = "\(port.listen)/\(port.proto.rawValue)"
                if let id = s.active[port], let st = stats[id] {
                    let state: RelayPortState
                    switch st.state {
                    case .listening: state = .listening
                    case .error(let reason): state = .failed(reason)
                    }
                    return .init(mapping: port.mapping, listen: listen, state: state, active: st.activeConnections, total: st.totalConnections,
                                 refused: st.refusedSources)
                }
                return .init(mapping: port.mapping, listen: listen, state: s.failed[port].map { .failed($0) } ?? .starting, active: 0, total: 0)
            }
            // A redirected port is served while the redirect socket listens (its connections are
            // counted on that socket, not per port).
            let redirected = s.redirected.map { entry in
                let counts = redirect?.counts(of: entry.mapping) ?? (active: 0, total: 0, refused: 0)
                return RelayStatus.Port(mapping: entry.mapping.label, listen: entry.listen, state: .listening, active: counts.active, total: counts.total,
                                        refused: counts.refused)
            }
            return RelayStatus(pid: Int(getpid()), table: table, problem: s.problem, ports: ports + redirected, restoreFrom: restoreFrom)
        }
    }

    private func monotonicNow() -> Double { MonotonicClock.seconds() }
}

/// The daemon's state, shared with the status server's thread.
final class SharedState: Sendable {
    private let mutex = Mutex(RelayDaemon.State())
    func withLock<T: Sendable>(_ body: (inout RelayDaemon.State) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// The loopback redirect once the daemon opened it, read by the status and event threads.
final class RedirectBox: Sendable {
    private let mutex = Mutex<LoopbackRedirect?>(nil)
    var value: LoopbackRedirect? {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}
