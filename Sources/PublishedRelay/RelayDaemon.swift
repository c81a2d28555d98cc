#if canImport(Glibc)
import Glibc
#endif
import Logging
import NFTables
import NFTRelay
import PortForwarding
import Synchronization

public enum RelayDaemonError: Error, Sendable, CustomStringConvertible {
    case alreadyRunning(table: String, name: String)
    case system(String, Int32)

    public var description: String {
        switch self {
        case .alreadyRunning(let table, let name):
            return "a relay for table \(table) already runs in this network namespace (another process holds the status socket \(name) and its lock)"
        case .system(let call, let e):
            return "\(call) failed: \(String(cString: strerror(e)))"
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
    private let state = SharedState()
    /// Where Prometheus scrapes (`--metrics`), or nil.
    private let metricsAddress: MetricsServer.Address?

    struct State: Sendable {
        var active: [RelayPort: ListenerID] = [:]
        var failed: [RelayPort: String] = [:]
        var desired: [RelayPort] = []
        var problem: String?
    }

    /// Per published port.
    public struct Limits: Sendable {
        /// TCP: connections at once (nil: no limit); UDP: flows (nil: the engine's 4096).
        public var connections: Int?
        public var udpIdle: Duration
        public init(connections: Int? = nil, udpIdle: Duration = .seconds(90)) {
            self.connections = connections
            self.udpIdle = udpIdle
        }
    }
    private let limits: Limits
    private let restorer: TableRestorer?

    /// `restoreFrom`: a saved state file the table is kept equal to; it must be readable now.
    public init(table: String, limits: Limits = Limits(), metrics: MetricsServer.Address? = nil,
                restoreFrom: String? = nil, logger: Logger = .relay()) throws {
        try TableLayout.validate(tableName: table)
        self.table = table
        self.limits = limits
        self.layout = TableLayout(name: table)
        self.metricsAddress = metrics
        self.logger = logger
        restorer = try restoreFrom.map { try TableRestorer(path: $0, table: table, logger: logger) }
    }

    private func log(_ text: String) { logger.info("\(text)") }
    private func warn(_ text: String) { logger.warning("\(text)") }

    /// Serves until SIGTERM or SIGINT; returns the signal that stopped it. SIGHUP reads the
    /// table again at once.
    public func run(pollInterval: Duration = .milliseconds(200)) throws -> Int32 {
        // Blocked before any thread exists, so every thread inherits the mask and the
        // signals wait for sigtimedwait below.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let nft = try NFTables()
        // Two loops share the accepting on two or more CPUs (short connections were 1.3x
        // faster so in the relay benchmark); one is enough on a single CPU.
        let engine = try RelayEngine(loops: sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 ? 2 : 1)
        try engine.start()
        defer { engine.stop() }
        // Each server is stopped (its socket closed) however the start-up below ends.
        let status = try StatusServer(table: table) { [state, table, restoreFrom = restorer?.path] in
            RelayDaemon.status(state: state, engine: engine, table: table, restoreFrom: restoreFrom)
        }
        defer { status.stop() }
        let metrics = try metricsAddress.map { address in
            try MetricsServer(address: address) { [state, table, layout] in
                RelayMetrics.render(status: RelayDaemon.status(state: state, engine: engine, table: table), layout: layout)
            }
        }
        defer { metrics?.stop() }
        try status.start()
        try metrics?.start()
        let restoring = restorer.map { " and keeping it equal to \($0.path)" } ?? ""
        log("following table inet \(table)\(restoring) (status: \(status.path))")
        if let metrics { log("serving Prometheus metrics on http://\(metrics.address)/metrics") }

        var generation: UInt32?
        var lastRetry = monotonicNow()
        var restoreDue: Double?   // when a restore check that could not finish is tried again
        let interval = pollInterval.components
        var timeout = timespec(tv_sec: Int(interval.seconds), tv_nsec: Int(interval.attoseconds / 1_000_000_000))
        while true {
            let current = try? nft.generation()
            let fileChanged = restorer?.fileChanged() ?? false
            let restoreNow = restoreDue.map { monotonicNow() >= $0 } ?? false
            if current == nil || current != generation || fileChanged || restoreNow {
                if let restorer, current != nil {
                    // Repaired first, so the plan below is computed from the repaired table.
                    if case .retry(let after) = restorer.enforce() { restoreDue = monotonicNow() + after } else { restoreDue = nil }
                }
                // A failed read is tried again at the next poll, changed ruleset or not.
                generation = reload(nft: nft, engine: engine) ? current : nil
            } else if !state.withLock({ $0.failed.isEmpty }) && monotonicNow() - lastRetry >= 1 {
                lastRetry = monotonicNow()
                reconcile(engine: engine)
            }
            let signal = sigtimedwait(&signals, nil, &timeout)
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

    /// Reads the table and serves what it says; false if the table could not be read.
    private func reload(nft: NFTables, engine: RelayEngine) -> Bool {
        let reader = TableReader(layout: layout, nft: nft)
        do {
            let snapshot = try reader.snapshot()
            let ports = RelayPlan.ports(for: snapshot.mappings)
            state.withLock { $0.desired = ports; $0.problem = nil }
        } catch {
            // Keep serving what we had: a table we cannot read says nothing reliable.
            let problem = "\(error)"
            let changed = state.withLock { s -> Bool in
                defer { s.problem = problem }
                return s.problem != problem
            }
            if changed { warn("\(problem)") }
            return false
        }
        reconcile(engine: engine)
        return true
    }

    /// Closes listeners no longer wanted and opens the missing ones.
    private func reconcile(engine: RelayEngine) {
        let (desired, active) = state.withLock { ($0.desired, $0.active) }
        let wanted = Set(desired)
        for (port, id) in active where !wanted.contains(port) {
            engine.removeListener(id, graceful: true)   // open connections run to their end
            state.withLock { $0.active[port] = nil }
            log("stopped \(port.listen)/\(port.proto) (\(port.mapping))")
        }
        state.withLock { s in s.failed = s.failed.filter { wanted.contains($0.key) } }
        for port in desired where active[port] == nil {
            do {
                let id = try engine.addListener(ListenerSpec(proto: port.proto, listen: port.listen, target: port.target,
                                                             connectionLimit: limits.connections, udpIdleTimeout: limits.udpIdle,
                                                             allowedSources: port.allow))
                state.withLock { $0.active[port] = id; $0.failed[port] = nil }
                log("serving \(port.listen)/\(port.proto) -> \(port.target) (\(port.mapping))")
            } catch {
                let reason = "\(error.underlying)"
                let isNew = state.withLock { s -> Bool in
                    defer { s.failed[port] = reason }
                    return s.failed[port] != reason
                }
                if isNew { warn("cannot serve \(port.listen)/\(port.proto): \(error); retrying every second") }
            }
        }
    }

    static func status(state: SharedState, engine: RelayEngine, table: String, restoreFrom: String? = nil) -> RelayStatus {
        let stats = Dictionary(engine.stats().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return state.withLock { s in
            let ports = s.desired.map { port -> RelayStatus.Port in
                let listen = "\(port.listen)/\(port.proto.rawValue)"
                if let id = s.active[port], let st = stats[id] {
                    let text: String
                    switch st.state {
                    case .listening: text = "listening"
                    case .error(let reason): text = "error: \(reason)"
                    }
                    return .init(mapping: port.mapping, listen: listen, state: text, active: st.activeConnections, total: st.totalConnections)
                }
                return .init(mapping: port.mapping, listen: listen, state: "error: \(s.failed[port] ?? "starting")", active: 0, total: 0)
            }
            return RelayStatus(pid: Int(getpid()), table: table, problem: s.problem, ports: ports, restoreFrom: restoreFrom)
        }
    }

    private func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// The daemon's state, shared with the status server's thread.
final class SharedState: Sendable {
    private let mutex = Mutex(RelayDaemon.State())
    func withLock<T: Sendable>(_ body: (inout RelayDaemon.State) -> T) -> T { mutex.withLock { body(&$0) } }
}
