import SystemCalls
/// What the listeners and connections of one loop share: the loop, the pipe pool, the
/// datagram batch and the statistics board.
///
/// Concurrency model: confined to the loop thread (the board is the thread-safe part).
final class RelayContext {
    let loop: EventLoop
    let pipes: PipePool
    let stats: StatsBoard
    private var batch: DatagramBatch?

    init(loop: EventLoop, stats: StatsBoard) {
        self.loop = loop
        self.stats = stats
        pipes = PipePool()
    }

    /// One batch serves every UDP socket of the loop: handlers run one at a time and never
    /// keep datagrams across events. Created on first use (TCP-only relays never pay for it).
    func datagrams() throws(SyscallError) -> DatagramBatch {
        if let batch { return batch }
        let created = try DatagramBatch(count: 32, slotSize: 65536)
        batch = created
        return created
    }
}

/// A listener as the engine's loop sees it.
protocol RelayListener: AnyObject {
    var id: ListenerID { get }
    /// Starts serving: registers with the loop.
    func activate() throws(SyscallError)
    /// Stops serving and closes the listening socket and everything it relays.
    func shutdown()
    /// Stops accepting at once and lets what it relays finish; calls `done` (on the loop)
    /// once nothing is left.
    func drain(then done: @escaping () -> Void)
}
