import NetworkAddress
import SystemCalls
/// One relayed TCP connection: the accepted client socket and the socket to the target.
///
/// Lifecycle: connecting (target connect in flight, bounded by a timeout) -> relaying (two
/// `RelayDirection`s) -> closed. EOF on one side half-closes the other; the connection ends
/// when both directions finished. A reset or error on either side resets both (SO_LINGER 0),
/// and a refused/unreachable/timed-out target resets the client at once.
///
/// Both sockets are registered edge-triggered for in+out once, so relaying never calls
/// epoll_ctl again. A direction that spent its byte budget (`RelayDirection.budget`) is
/// resumed by the loop after the next round of events (`YieldingHandler`), since no new edge
/// would come for the bytes it left.
///
/// Concurrency model: confined to the event loop thread.
final class TCPConnection: EventHandler, YieldingHandler {
    private enum State { case connecting, relaying, closed }

    let client: Int32
    let target: Int32
    /// The client's address when a per-source limit counts it (released at close).
    let source: IPAddress?
    private unowned let owner: TCPListener
    private let context: RelayContext
    private var state = State.connecting
    /// When the target connect is given up (monotonic ns); see `PendingConnects`.
    private(set) var connectDeadline: UInt64 = 0
    var isPending = false
    var pendingPrevious: TCPConnection?
    var pendingNext: TCPConnection?
    /// Links and time (loop ns) of the idle-timeout list (`IdleConnections`).
    var isInIdleList = false
    var idlePrevious: TCPConnection?
    var idleNext: TCPConnection?
    var lastActive: UInt64 = 0
    /// Links and start (loop ns) of the list of connections whose target socket still waits
    /// for its keepalive settings (`YoungConnections`).
    var isYoung = false
    var youngPrevious: TCPConnection?
    var youngNext: TCPConnection?
    var youngSince: UInt64 = 0
    private let upstream: RelayDirection     // client -> target
    private let downstream: RelayDirection   // target -> client

    /// Directions that yielded and wait for `resumeAfterYield`; `queued` while the loop
    /// holds a resumption (at most one at a time).
    private var upstreamYielded = false
    private var downstreamYielded = false
    private var queued = false

    /// `.priority` (urgent data) is watched only so that events tell when a short read may
    /// have stopped at an urgent mark (see `finReceived`).
    private static let watched: Epoll.Events = [.readable, .writable, .readHangup, .priority, .edgeTriggered]

    /// The events report the FIN of the fd with nothing that could make a read stop short of
    /// it (an error, urgent data): see `RelayDirection.pump`'s `finReceived`.
    private static func finReceived(_ events: Epoll.Events) -> Bool {
        events.contains(.readHangup) && events.isDisjoint(with: [.error, .priority])
    }

    /// Bytes sent to the target before any of the client's (a PROXY protocol header), or none.
    private let header: [UInt8]

    /// The client's readiness events reported while the target connect was in flight (their
    /// edges are consumed then, so `beginRelaying` must know them).
    private var clientEventsWhileConnecting: Epoll.Events = []
    private static let readReady: Epoll.Events = [.readable, .readHangup, .hangup, .error]

    init(client: Int32, target: Int32, source: IPAddress?, header: [UInt8] = [], owner: TCPListener, context: RelayContext) {
        self.header = header
        self.client = client
        self.target = target
        self.source = source
        self.owner = owner
        self.context = context
        upstream = RelayDirection(from: client, to: target, setsNoDelayLate: true)
        downstream = RelayDirection(from: target, to: client)
    }

    /// Registers both sockets and starts the connect; on failure everything is closed.
    func start(connectingTo address: SocketAddress, timeout: UInt64) {
        do {
            try context.loop.register(client, Self.watched, self)
            try context.loop.register(target, Self.watched, self)
            switch try Sockets.connect(target, to: address) {
            case .connected:
                beginRelaying(targetEvents: nil)
            case .inProgress:
                connectDeadline = context.loop.now &+ timeout
                owner.connectPending(self)
            }
        } catch {
            // Out of local ports (EADDRNOTAVAIL) or similar: the listener reports it once.
            if ListenerShare.isResourceShortage(error) { owner.targetFailed(error) }
            close(reset: true)
        }
    }

    func handle(fd: Int32, events: Epoll.Events) {
        switch state {
        case .closed:
            return
        case .connecting:
            if fd == target {
                if !events.isDisjoint(with: [.writable, .error, .hangup]) { finishConnect(events) }
            } else if !events.isDisjoint(with: [.error, .hangup]) {
                close(reset: true)   // the client went away before the target answered
            } else {
                clientEventsWhileConnecting.formUnion(events)
            }
        case .relaying:
            // A reset is reported as an error even when that side's reading direction is
            // already finished (nothing would read the error): check it here.
            if events.contains(.error), Sockets.pendingError(fd) != nil {
                close(reset: true)
                return
            }
            let fromClient = fd == client
            let reading = fromClient ? upstream : downstream    // reads from fd
            let writing = fromClient ? downstream : upstream    // writes to fd
            let hangup = !events.isDisjoint(with: [.readHangup, .hangup, .error])
            if hangup || events.contains(.readable) {
                step(reading, edge: !hangup, finReceived: Self.finReceived(events))
            }
            // An edge reports every ready event of the fd, so "writable" comes with nearly every
            // read edge. It concerns the direction writing here only when that one stopped on
            // a full send buffer; otherwise it waits for its source's own edge, and stepping it
            // would cost a read that returns EAGAIN.
            if state == .relaying && (!events.isDisjoint(with: [.hangup, .error]) || (events.contains(.writable) && writing.isWaitingForRoom)) {
                step(writing)
            }
        }
    }

    /// Writable without error or hang-up means the connect succeeded (no getsockopt needed).
    private func finishConnect(_ events: Epoll.Events) {
        if !events.isDisjoint(with: [.error, .hangup]) {
            close(reset: true)   // refused, unreachable...: the client sees a reset right away
            return
        }
        beginRelaying(targetEvents: events)
    }

    /// `targetEvents`: the target's events that reported the connect done, nil when connect(2)
    /// succeeded at once (nothing reported yet: both sides are read until EAGAIN).
    private func beginRelaying(targetEvents: Epoll.Events?) {
        owner.connectionEstablished(self)
        // A just-connected socket's send buffer is empty, so the header (at most 108 bytes
        // here) goes whole in one send; anything less means the target is already gone.
        if !header.isEmpty {
            upstream.noDelayBeforeWrite(header.count)
            let sent = try? header.withUnsafeBytes { (raw) throws(SyscallError) in try Posix.send(target, raw) }
            guard case .done(let count)? = sent, count == header.count else {
                close(reset: true)
                return
            }
        }
        state = .relaying
        // Edges that came while connecting were not acted on: pump each side that reported
        // something. A side that reported nothing has nothing to read, and its first byte or
        // FIN will raise an edge (epoll reports readiness present at registration too), so
        // reading it now would only return EAGAIN: for a short connection that was one or two
        // of its ~18 system calls. A reported hang-up means the FIN may be behind the bytes
        // already signalled: that side is read until EAGAIN or EOF (no `edge`).
        let clientReady = targetEvents == nil ? Self.readReady : clientEventsWhileConnecting
        clientEventsWhileConnecting = []
        if !clientReady.isDisjoint(with: Self.readReady) {
            step(upstream, edge: targetEvents != nil && clientReady.isDisjoint(with: [.readHangup, .hangup, .error]),
                 finReceived: targetEvents != nil && Self.finReceived(clientReady))
        }
        let targetReady = targetEvents ?? Self.readReady
        if state == .relaying && !targetReady.isDisjoint(with: Self.readReady) {
            step(downstream, edge: targetEvents != nil && targetReady.isDisjoint(with: [.readHangup, .hangup, .error]),
                 finReceived: targetEvents != nil && Self.finReceived(targetReady))
        }
    }

    func resumeAfterYield() {
        queued = false
        guard state == .relaying else { return }
        let (up, down) = (upstreamYielded, downstreamYielded)
        upstreamYielded = false
        downstreamYielded = false
        if up { step(upstream) }
        if down && state == .relaying { step(downstream) }
    }

    /// `edge`: called for a readable edge of the direction's source without hang-up (see
    /// `RelayDirection.pump`).
    private func step(_ direction: RelayDirection, edge: Bool = false, finReceived: Bool = false) {
        let isUpstream = direction === upstream
        let other = isUpstream ? downstream : upstream
        let delivered = direction.delivered
        let outcome = direction.pump(context.pipes, closingAfter: other.isFinished, edge: edge, finReceived: finReceived)
        if direction.delivered != delivered { owner.transferred(self) }   // before any close
        switch outcome {
        case .waiting:
            break
        case .yielded:
            if isUpstream { upstreamYielded = true } else { downstreamYielded = true }
            if !queued {
                queued = true
                context.loop.resumeLater(self)
            }
        case .finished:
            if upstream.isFinished && downstream.isFinished { close(reset: false) }
        case .failed:
            close(reset: true)
        }
    }

    /// Closes both sockets (with RST when `reset`), exactly once.
    func close(reset: Bool) {
        guard state != .closed else { return }
        state = .closed
        owner.connectDone(self)
        upstream.abandon(context.pipes)
        downstream.abandon(context.pipes)
        for fd in [client, target] {
            context.loop.forget(fd)   // close removes it from epoll: both fds are ours alone
            if reset { Sockets.reset(fd) } else { Posix.close(fd) }
        }
        owner.connectionClosed(self)
    }
}
