import SystemCalls
/// One direction of a relayed TCP connection (client -> target or target -> client): moves
/// bytes from `source` to `destination` until EOF, then half-closes the destination.
///
/// A direction starts with plain recv/send through the loop's 64 KiB scratch buffer
/// (`PipePool.scratch`): most connections carry a few small messages, where a copy is cheaper
/// than moving pages through a pipe. The first read that fills the buffer marks the direction
/// as bulk, and from then on bytes go through a pipe with splice(2) (like haproxy's
/// splice-auto). If the kernel refuses splice for these fds (EINVAL), the direction stays with
/// recv/send. Bytes read are sent at once; only what a full destination did not take is moved
/// into a buffer of the direction's own (the scratch serves every direction of the loop), so
/// no buffer is allocated per message. Either buffer is held only while it contains bytes, and
/// is bounded (pipe capacity or 64 KiB), so a slow reader only ever stalls its own direction.
///
/// Concurrency model: confined to the event loop thread of its connection.
final class RelayDirection {
    enum Outcome {
        /// Blocked on the source (nothing to read) or the destination (full): wait for an event.
        case waiting
        /// Source reached EOF and every byte was delivered; destination is half-closed.
        case finished
        /// The byte budget of this turn is spent while bytes may still be waiting: call
        /// `pump` again after the loop has served the others (no event will come for them).
        case yielded
        /// A socket failed (reset, broken pipe...): the connection must be reset.
        case failed(SyscallError)
    }

    /// Bytes one `pump` call moves at most before it yields (`Outcome.yielded`), so one bulk
    /// stream cannot keep its loop from the other connections, listeners and timers: 1 MiB
    /// is one full pipe, about a millisecond of splicing on loopback, so a busy loop still
    /// looks at its other events every few milliseconds while a stream loses nothing
    /// measurable (each turn still moves whole pipe loads).
    static let budget = 1 << 20

    let source: Int32
    let destination: Int32
    private(set) var isFinished = false

    private var pipe: SplicePipe?
    /// Where `pending` copied bytes are: the pool's scratch during a `pump` call, or `owned`.
    private var copyBuffer: UnsafeMutableRawBufferPointer?
    /// This direction's own buffer, holding bytes a full destination has not taken yet.
    private var owned: UnsafeMutableRawBufferPointer?
    private var copyStart = 0
    /// Bytes read from `source` not yet written to `destination`.
    private var pending = 0
    private var sourceAtEOF = false
    private var spliceUnsupported = false
    /// Set once a read filled the copy buffer: large transfers go through splice.
    private var bulk = false
    private static let copyBufferSize = 65536
    /// Bytes read in the current `pump` call, against `budget`.
    private var movedThisTurn = 0
    /// Bytes delivered to `destination` so far (the connection's idle timeout watches it).
    private(set) var delivered: UInt64 = 0

    /// The destination still lacks TCP_NODELAY (the target socket: `TCPConnection` sets it here
    /// late, see `noDelayBeforeWrite`), and whether anything was written to it yet.
    private var needsNoDelay: Bool
    private var wroteBefore = false

    /// A first write this small is one segment on any usual path (536 bytes: the MSS of a peer
    /// that announces none, RFC 879; IPv6 guarantees 1,220), so Nagle cannot hold it: nothing
    /// is in flight yet.
    static let alwaysOneSegment = 536

    init(from source: Int32, to destination: Int32, setsNoDelayLate: Bool = false) {
        self.source = source
        self.destination = destination
        needsNoDelay = setsNoDelayLate
    }

    /// Called before every write of `count` bytes to the destination. Nagle only holds a
    /// small segment while an earlier one is unacknowledged, so a first write of at most one
    /// segment goes out at once with or without TCP_NODELAY: the option is set before any
    /// later (or larger) write instead of at connect. A short connection whose request is
    /// one small message never pays the setsockopt (one of ~15 system calls per connection).
    func noDelayBeforeWrite(_ count: Int) {
        guard needsNoDelay else { return }
        if wroteBefore || count > Self.alwaysOneSegment {
            needsNoDelay = false
            Sockets.setNoDelay(destination)
        }
        wroteBefore = true
    }

    /// Moves bytes without blocking until EAGAIN (the sockets are edge-triggered) or until
    /// `budget` bytes were read in this call (then `.yielded`).
    /// `closingAfter`: the other direction is finished, so the connection closes as soon as
    /// this one finishes and the half-close (shutdown) would be redundant.
    /// `edge`: the caller is handling a readiness event of the source that reported no
    /// hang-up. A copy read that returns less than asked has then emptied the socket's queue
    /// (TCP returns short only when nothing is left), and a byte or a FIN arriving later
    /// raises a new edge, so the direction waits for it instead of reading again for EAGAIN
    /// (one system call less per message). Without `edge` (a pump at connect, after a yield
    /// or on the destination's writability) a FIN may have come with an edge that was already
    /// consumed, so the source is read until EAGAIN or EOF.
    /// `finReceived`: the event being handled reported the source's FIN (read hang-up) with
    /// neither an error nor urgent data. The FIN was then queued behind every byte before it,
    /// and a copy read returns less than asked only at the end of the queue or at an urgent
    /// mark (none here), so a short read has reached the FIN: the direction ends without the
    /// read that would return 0 (one system call less for every connection a peer closes
    /// right after its last message, as an HTTP server with Connection: close does).
    func pump(_ pool: PipePool, closingAfter: Bool = false, edge: Bool = false, finReceived: Bool = false) -> Outcome {
        if isFinished { return .finished }
        movedThisTurn = 0
        var drained = false
        defer { keepPending() }
        do {
            while true {
                if pending > 0 {
                    if case .wouldBlock = try flush() { return .waiting }
                    continue
                }
                if drained && edge {
                    release(pool)
                    return .waiting
                }
                if movedThisTurn >= Self.budget && !sourceAtEOF {
                    return .yielded   // buffers are kept: the next turn goes on at once
                }
                if sourceAtEOF {
                    if !closingAfter { Sockets.shutdownWrite(destination) }
                    isFinished = true
                    release(pool)
                    return .finished
                }
                switch try fill(pool) {
                case .wouldBlock:
                    release(pool)
                    return .waiting
                case .done(let n):
                    drained = pipe == nil && n > 0 && n < Self.copyBufferSize
                    if drained && finReceived { sourceAtEOF = true }
                }
            }
        } catch {
            return .failed(error)
        }
    }

    /// `waiting` on the destination only: a writability event of the destination concerns
    /// this direction only then (otherwise it waits on its source's readability).
    var isWaitingForRoom: Bool { pending > 0 && !isFinished }

    /// At the end of a `pump`: bytes still in the shared scratch move to this direction's own
    /// buffer (allocated now, once per stall), since the next direction's read reuses it.
    private func keepPending() {
        guard pending > 0, pipe == nil, let buffer = copyBuffer, buffer.baseAddress != owned?.baseAddress else { return }
        if owned == nil { owned = .allocate(byteCount: Self.copyBufferSize, alignment: 16) }
        owned!.baseAddress!.copyMemory(from: buffer.baseAddress! + copyStart, byteCount: pending)
        copyBuffer = owned
        copyStart = 0
    }

    /// Gives back buffers; the pipe is closed instead if it still holds bytes.
    func release(_ pool: PipePool) {
        if let pipe {
            if pending == 0 { pool.give(pipe) } else { pool.discard(pipe) }
            self.pipe = nil
        }
        if pending == 0 || isFinished {
            owned?.deallocate()
            owned = nil
            copyBuffer = nil
        }
    }

    /// Drops everything (the connection is being torn down).
    func abandon(_ pool: PipePool) {
        isFinished = true
        if let pipe { pending == 0 ? pool.give(pipe) : pool.discard(pipe) }
        pipe = nil
        owned?.deallocate()
        owned = nil
        copyBuffer = nil
        pending = 0
    }

    /// Reads from the source into the pipe (or buffer); sets `pending` or `sourceAtEOF`.
    private func fill(_ pool: PipePool) throws(SyscallError) -> IOResult<Int> {
        if bulk && !spliceUnsupported && pipe == nil {
            // No pipe (out of fds or pipe memory): this round goes through the copy buffer.
            pipe = try? pool.take()
        }
        if bulk && !spliceUnsupported, pipe != nil {
            do {
                let result = try Splice.move(from: source, to: pipe!.writeFD, count: min(pool.capacity, Self.budget - movedThisTurn))
                if case .done(let n) = result { n == 0 ? (sourceAtEOF = true) : (pending = n); movedThisTurn += n }
                return result
            } catch where error.errno == .invalidArgument {
                spliceUnsupported = true
                if let pipe { pool.give(pipe) }
                pipe = nil
            }
        }
        // `pending` is 0 here: whatever the owned buffer held was delivered.
        copyBuffer = pool.scratch
        let result = try Posix.read(source, into: pool.scratch)
        if case .done(let n) = result {
            if n == 0 { sourceAtEOF = true } else { pending = n; copyStart = 0; movedThisTurn += n }
            if n == Self.copyBufferSize { bulk = true }
        }
        return result
    }

    /// Writes pending bytes to the destination.
    private func flush() throws(SyscallError) -> IOResult<Int> {
        noDelayBeforeWrite(pending)
        if let pipe {
            let result = try Splice.move(from: pipe.readFD, to: destination, count: pending)
            if case .done(let n) = result { pending -= n; delivered &+= UInt64(n) }
            return result
        }
        let buffer = UnsafeRawBufferPointer(rebasing: copyBuffer![copyStart..<(copyStart + pending)])
        let result = try Posix.send(destination, buffer)
        if case .done(let n) = result { pending -= n; copyStart += n; delivered &+= UInt64(n) }
        return result
    }
}
