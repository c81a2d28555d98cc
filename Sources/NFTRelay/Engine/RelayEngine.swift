import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress
import SystemCalls

/// A userland TCP/UDP relay: listeners forwarding to targets, served by epoll loops.
///
/// Concurrency model: `loops` event-loop threads (default 1) do all relaying; each owns its
/// connections, pipes and timers, and shares nothing with the others but the statistics
/// board. Every loop accepts from every TCP listener (the socket is registered in each epoll
/// with EPOLLEXCLUSIVE, so one loop wakes per client) and keeps the connections it accepted.
/// UDP listeners are served by the first loop only (one flow table). The loops run on
/// threads the engine creates (`start()`, joined by `stop()`), or the first one runs on the
/// caller's thread (`run(stoppingOn:)`, for processes that do nothing else). All public
/// methods are thread-safe: they open sockets in the calling thread (so bind errors are
/// thrown to the caller), then hand work to the loops through locked inboxes and eventfd
/// wake-ups. Statistics live behind their own lock and are updated only when connections
/// open and close, never per byte. The optional event sink is called on the loop threads,
/// once per episode of each `RelayEvent`.
///
/// Creating an engine ignores SIGPIPE for the process: splice(2) to a socket whose peer is
/// gone raises SIGPIPE (there is no MSG_NOSIGNAL for splice), and the relay handles EPIPE.
public final class RelayEngine: Sendable {
    private let cores: [LoopCore]
    private let board = StatsBoard()
    private let control = Mutex<Control>(Control())
    private let events: RelayEventSink?

    private struct Control {
        var nextID = 1
        var threads: [SpawnedThread] = []
        var running = false
        /// Each listener's socket while it is added (`duplicateSockets`); holding it here keeps
        /// its descriptor from being closed and reused under a duplicating thread.
        var sockets: [ListenerID: ListenerSocket] = [:]
    }

    /// - Parameter loops: event-loop threads; more than one spreads TCP connections over
    ///   cores (each loop costs a thread, an epoll and an eventfd).
    /// - Parameter events: where to report `RelayEvent`s (once per episode each), or nil.
    public init(loops: Int = 1, events: RelayEventSink? = nil) throws(SyscallError) {
        signal(SIGPIPE, SIG_IGN)
        self.events = events
        var cores: [LoopCore] = []
        for _ in 0..<max(1, loops) { cores.append(try LoopCore(stats: board)) }
        self.cores = cores
    }

    /// The number of event loops.
    public var loops: Int { cores.count }

    // MARK: listeners

    /// Opens the listener's socket now (binding `spec.listen`, or adopting `spec.preopenedFD`)
    /// and has the loop serve it. Throws if the socket cannot be set up, e.g. the port is
    /// in use; later failures show as `ListenerStats.State.error`.
    @discardableResult
    public func addListener(_ spec: ListenerSpec) throws(RelayError) -> ListenerID {
        let (fd, bound): (Int32, SocketAddress)
        do {
            (fd, bound) = try Self.openSocket(for: spec)
        } catch {
            throw RelayError(spec: spec, underlying: error)
        }
        let socket = ListenerSocket(fd: fd)
        let id = control.withLock { control -> ListenerID in
            defer { control.nextID += 1 }
            control.sockets[ListenerID(rawValue: control.nextID)] = socket
            return ListenerID(rawValue: control.nextID)
        }
        board.add(ListenerStats(id: id, spec: spec, boundAddress: bound, state: .listening, activeConnections: 0, totalConnections: 0))
        let share = ListenerShare(id: id, perSourceLimit: spec.perSourceLimit, events: events)
        if spec.proto == .tcp {
            for core in cores { core.send(.add(id, socket, spec, share, shared: cores.count > 1)) }
        } else {
            cores[0].send(.add(id, socket, spec, share, shared: false))
        }
        return id
    }

    /// The listening socket for `spec` and the address it is bound to.
    private static func openSocket(for spec: ListenerSpec) throws(SyscallError) -> (Int32, SocketAddress) {
        let fd: Int32
        if let preopened = spec.preopenedFD {
            fd = preopened
            switch spec.proto {
            case .tcp: try TCPListener.adoptSocket(fd, keepalive: spec.keepalive)
            case .udp: try UDPListener.adoptSocket(fd, for: spec)
            }
        } else {
            switch spec.proto {
            case .tcp: fd = try TCPListener.openSocket(for: spec)
            case .udp: fd = try UDPListener.openSocket(for: spec)
            }
        }
        do {
            return (fd, try Sockets.localAddress(fd))
        } catch {
            if spec.preopenedFD == nil { Posix.close(fd) }
            throw error
        }
    }

    /// Stops a listener: closes its socket at once (new clients are refused) and resets the
    /// connections (or drops the flows) it was relaying; with `graceful`, its TCP connections
    /// instead run on to their natural end (UDP flows, which reply through the listening
    /// socket, end with it). Its statistics go at once. Unknown ids are ignored.
    ///
    /// While the engine runs, returns once every loop has released the socket (at most 2 s),
    /// so the address can be bound again right away. Never call it from a loop thread.
    public func removeListener(_ id: ListenerID, graceful: Bool = false) {
        board.remove(id)
        let running = control.withLock { $0.sockets[id] = nil; return $0.running }
        let ack = running ? RemovalAck() : nil
        for core in cores { core.send(.remove(id, graceful: graceful, done: ack)) }
        ack?.wait(for: cores.count)
    }

    /// A duplicate (close-on-exec, the caller's to close) of every added listener's socket: what
    /// a relay hands its successor (`relay --replace`). Same sockets, so same queue and address.
    public func duplicateSockets() -> [(ListenerID, Int32)] {
        control.withLock { control in
            control.sockets.sorted { $0.key.rawValue < $1.key.rawValue }.compactMap { id, socket in
                Posix.duplicate(socket.fd).map { (id, $0) }
            }
        }
    }

    /// A duplicate of every UDP flow's socket (connected to its listener's target), with its
    /// client, reply source and silence so far: what a relay hands its successor with the
    /// listeners' sockets, so the target sees the same peer across the takeover. Taken on the
    /// loop threads that own the flows (a command through their inboxes, waited for at most
    /// 2 s); the fds are the caller's to close. Never call it from a loop thread.
    public func duplicateFlows() -> [(ListenerID, UDPFlowHandover)] {
        guard control.withLock({ $0.running }) else { return [] }
        let export = FlowExport()
        guard export.ack != nil else { return [] }
        for core in cores { core.send(.exportFlows(export)) }
        return export.collect(from: cores.count)
    }

    /// Listeners the loops still hold, those draining after a graceful removal included: 0
    /// once every removed listener's last connection ended.
    public var heldListeners: Int { cores.reduce(0) { $0 + $1.held.load(ordering: .relaxed) } }

    /// Every listener's current state and counters, ordered by id.
    public func stats() -> [ListenerStats] { board.snapshot() }

    /// One listener's current state and counters.
    public func stats(for id: ListenerID) -> ListenerStats? { board.snapshot().first { $0.id == id } }

    // MARK: running

    /// Runs the loops on new threads; returns at once. `stop()` ends and joins them.
    public func start() throws(SyscallError) {
        try markRunning()
        do {
            try spawnThreads(for: cores[...])
        } catch {
            control.withLock { $0.running = false }
            throw error
        }
    }

    /// Runs the first loop on the calling thread (the others on new threads) until `stop()`
    /// is called from another thread or one of `signals` arrives (they are blocked for this
    /// thread, and so for the loop threads it creates, and read through a signalfd; block
    /// them in every other thread too, before creating any). Returns the signal that ended
    /// the run, or nil.
    public func run(stoppingOn signals: [Int32] = []) throws(SyscallError) -> Int32? {
        try markRunning()
        defer { control.withLock { $0.running = false } }
        let core = cores[0]
        var watcher: SignalWatcher?
        if !signals.isEmpty {
            RelayEngine.blockSignals(signals)
            let created = try SignalWatcher(signals: signals, core: core)
            try core.loop.register(created.fd, .readable, created)
            watcher = created
        }
        defer {
            if let watcher {
                core.loop.deregister(watcher.fd)
                Posix.close(watcher.fd)
            }
        }
        try spawnThreads(for: cores.dropFirst())
        defer { stopAndJoin(cores.dropFirst()) }
        try core.run()
        return core.stoppingSignal
    }

    private func markRunning() throws(SyscallError) {
        let alreadyRunning = control.withLock { control -> Bool in
            defer { control.running = true }
            return control.running
        }
        precondition(!alreadyRunning, "RelayEngine is already running")
    }

    /// One thread per core, each running that core's loop until `.stop`.
    private func spawnThreads(for cores: ArraySlice<LoopCore>) throws(SyscallError) {
        for core in cores {
            let thread: SpawnedThread
            do {
                thread = try Threads.spawn {
                    do { try core.run() } catch { fatalError("relay loop failed: \(error)") }
                }
            } catch {
                stopAndJoin(cores)
                throw error
            }
            control.withLock { $0.threads.append(thread) }
        }
    }

    /// Stops the given loops and joins every thread this engine created.
    private func stopAndJoin(_ cores: ArraySlice<LoopCore>) {
        for core in cores { core.send(.stop) }
        let threads = control.withLock { control -> [SpawnedThread] in
            defer { control.threads.removeAll() }
            return control.threads
        }
        for thread in threads { thread.join() }
    }

    /// Blocks `signals` for the calling thread (threads created afterwards inherit the mask).
    public static func blockSignals(_ signals: [Int32]) {
        Processes.blockSignals(signals)
    }

    /// Stops the loops and closes every listener and connection. If the loops run on
    /// threads from `start()`, waits for them to finish.
    public func stop() {
        let started = control.withLock { !$0.threads.isEmpty }
        stopAndJoin(cores[...])
        if started { control.withLock { $0.running = false } }
    }
}
