#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import CLinux
import Synchronization

/// Commands from control threads to the loop.
enum EngineCommand {
    /// `shared`: other loops serve the same socket.
    case add(ListenerID, ListenerSocket, ListenerSpec, ListenerShare, shared: Bool)
    case remove(ListenerID, graceful: Bool, done: RemovalAck?)
    /// Duplicates of every UDP flow's socket this loop holds (`RelayEngine.duplicateFlows`).
    case exportFlows(FlowExport)
    case stop
}

/// The answer to `.exportFlows`: each loop adds its flows (duplicated on the loop thread, which
/// owns them) and signals; a caller that stopped waiting leaves the duplicates that arrive
/// late to the loop, which closes them, so none leaks.
final class FlowExport: Sendable {
    let ack: RemovalAck?
    private let state = Mutex<(flows: [(ListenerID, UDPFlowHandover)], abandoned: Bool)>(([], false))

    init() { ack = RemovalAck() }

    /// From a loop thread.
    func deliver(_ flows: [(ListenerID, UDPFlowHandover)]) {
        let late = state.withLock { s -> Bool in
            if !s.abandoned { s.flows += flows }
            return s.abandoned
        }
        if late { for (_, flow) in flows { Posix.close(flow.fd) } }
        ack?.signal()
    }

    /// Waits for `loops` deliveries (bounded), then takes what arrived; later ones are closed.
    func collect(from loops: Int) -> [(ListenerID, UDPFlowHandover)] {
        ack?.wait(for: loops)
        return state.withLock { s in
            s.abandoned = true
            defer { s.flows = [] }
            return s.flows
        }
    }
}

/// Lets `removeListener` wait until every loop has let go of the listening socket, so the
/// address is free when it returns (a caller re-binding it at once must not see EADDRINUSE).
/// Each loop writes one byte to the pipe after processing the removal.
final class RemovalAck: Sendable {
    private let readFD: Int32
    private let writeFD: Int32

    init?() {
        var fds: [Int32] = [-1, -1]
        guard clinux_pipe2(&fds, O_CLOEXEC) == 0 else { return nil }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        Posix.close(readFD)
        Posix.close(writeFD)
    }

    func signal() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { try? Posix.write(writeFD, $0) }
    }

    /// Waits for `count` signals, for at most `timeout` milliseconds in all.
    func wait(for count: Int, timeout: Int32 = 2000) {
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 64)
        let deadline = MonotonicClock.now() + UInt64(timeout) * 1_000_000
        while received < count {
            let now = MonotonicClock.now()
            guard now < deadline else { return }
            let ready = (try? Posix.poll(readFD, events: Int16(POLLIN), timeoutMS: Int32((deadline - now) / 1_000_000) + 1)) ?? 0
            guard ready != 0 else { continue }
            let wanted = min(buffer.count, count - received)
            let result = buffer.withUnsafeMutableBytes { try? Posix.read(readFD, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted])) }
            if case .done(let n)? = result, n > 0 { received += n }
        }
    }
}

/// The part of a `RelayEngine` that lives on the loop thread: the event loop, the shared
/// relay context and the listeners.
///
/// Concurrency model: created on a control thread, then used only by the one thread that runs
/// it (`run`); other threads reach it only through `inbox` + the loop's waker. That
/// confinement is what makes the `@unchecked Sendable` sound.
final class LoopCore: @unchecked Sendable {
    let loop: EventLoop
    let context: RelayContext
    let inbox = Mutex<[EngineCommand]>([])
    private var listeners: [ListenerID: RelayListener] = [:] { didSet { held.store(listeners.count, ordering: .relaxed) } }
    /// How many listeners this loop still holds, draining ones included (read by other threads:
    /// `RelayEngine.heldListeners`, which a relay handing over waits on to drain).
    let held = Atomic<Int>(0)
    /// Set by a signal watcher when a signal stopped the loop.
    var stoppingSignal: Int32?

    init(stats: StatsBoard) throws(SyscallError) {
        loop = try EventLoop()
        context = RelayContext(loop: loop, stats: stats)
        loop.onWake = { [unowned self] in self.drainInbox() }
    }

    /// Sockets handed over by `addListener` but never picked up (the loop never ran) close
    /// with the inbox (`ListenerSocket` closes in deinit), so dropping an engine that was
    /// never started leaks nothing.
    deinit {
        for listener in listeners.values { listener.shutdown() }
    }

    func send(_ command: EngineCommand) {
        inbox.withLock { $0.append(command) }
        loop.waker.wake()
    }

    /// Runs the loop until a `.stop` command (or a watched signal), then closes every listener.
    func run() throws(SyscallError) {
        defer {
            for listener in listeners.values { listener.shutdown() }
            listeners.removeAll()
        }
        try loop.run()
    }

    private func drainInbox() {
        // Popped one by one, so a processed `.add` no longer holds its socket while a later
        // `.remove` of the same listener acknowledges that the socket is gone.
        var pending = inbox.withLock { inbox -> [EngineCommand] in
            defer { inbox.removeAll() }
            return inbox.reversed()
        }
        while let command = pending.popLast() {
            switch command {
            case .add(let id, let socket, let spec, let share, let shared):
                let listener: RelayListener = spec.proto == .tcp
                    ? TCPListener(id: id, socket: socket, shared: shared, spec: spec, share: share, context: context)
                    : UDPListener(id: id, socket: socket, spec: spec, share: share, context: context)
                do {
                    try listener.activate()
                    listeners[id] = listener
                } catch {
                    listener.shutdown()
                    context.stats.failed(id, error.description)
                }
            case .remove(let id, let graceful, let done):
                defer { done?.signal() }
                guard let listener = listeners[id] else { break }
                if graceful {
                    // Kept until its last connection ends, then dropped.
                    listener.drain { [unowned self] in self.listeners[id] = nil }
                } else {
                    listeners[id] = nil
                    listener.shutdown()
                }
            case .exportFlows(let export):
                var flows: [(ListenerID, UDPFlowHandover)] = []
                for (id, listener) in listeners {
                    guard let udp = listener as? UDPListener else { continue }
                    flows += udp.exportFlows().map { (id, $0) }
                }
                export.deliver(flows)
            case .stop:
                loop.stop()
            }
        }
    }
}

/// Stops the loop when one of the watched signals arrives (through a signalfd).
final class SignalWatcher: EventHandler {
    let fd: Int32
    private unowned let core: LoopCore

    init(signals: [Int32], core: LoopCore) throws(SyscallError) {
        fd = try Epoll.signalFD(signals)
        self.core = core
    }

    func handle(fd: Int32, events: Epoll.Events) {
        var signal = Int32(0)
        while let received = Epoll.readSignal(fd) { signal = received }
        if signal > 0 {
            core.stoppingSignal = signal
            core.loop.stop()
        }
    }
}
