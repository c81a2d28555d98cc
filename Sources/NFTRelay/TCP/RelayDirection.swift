import SystemCalls
/// One direction of a relayed TCP connection (client -> target or target -> client): moves
/// bytes from `source` to `destination` until EOF, then half-closes the destination.
///
/// A direction starts with plain recv/send through a 64 KiB buffer: most connections carry a
/// few small messages, where a copy is cheaper than moving pages through a pipe. The first
/// read that fills the buffer marks the direction as bulk, and from then on bytes go through
/// a pipe with splice(2) (like haproxy's splice-auto). If the kernel refuses splice for these
/// fds (EINVAL), the direction stays with recv/send. Either buffer is held only while it
/// contains bytes, and is bounded (pipe capacity or 64 KiB), so a slow reader only ever
/// stalls its own direction.
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
    private var copyBuffer: UnsafeMutableRawBufferPointer?
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

    init(from source: Int32, to destination: Int32) {
        self.source = source
        self.destination = destination
    }

    /// Moves bytes without blocking until EAGAIN (the sockets are edge-triggered) or until
    /// `budget` bytes were read in this call (then `.yielded`).
    /// `closingAfter`: the other direction is finished, so the connection closes as soon as
    /// this one finishes and the half-close (shutdown) would be redundant.
    func pump(_ pool: PipePool, closingAfter: Bool = false) -> Outcome {
        if isFinished { return .finished }
        movedThisTurn = 0
        do {
            while true {
                if pending > 0 {
                    if case .wouldBlock = try flush() { return .waiting }
                    continue
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
                if case .wouldBlock = try fill(pool) {
                    release(pool)
                    return .waiting
                }
            }
        } catch {
            return .failed(error)
        }
    }

    /// Gives back buffers; the pipe is closed instead if it still holds bytes.
    func release(_ pool: PipePool) {
        if let pipe {
            if pending == 0 { pool.give(pipe) } else { pool.discard(pipe) }
            self.pipe = nil
        }
        if let copyBuffer, pending == 0 || isFinished {
            copyBuffer.deallocate()
            self.copyBuffer = nil
        }
    }

    /// Drops everything (the connection is being torn down).
    func abandon(_ pool: PipePool) {
        isFinished = true
        if let pipe { pending == 0 ? pool.give(pipe) : pool.discard(pipe) }
        pipe = nil
        copyBuffer?.deallocate()
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
        if copyBuffer == nil { copyBuffer = .allocate(byteCount: Self.copyBufferSize, alignment: 16) }
        let result = try Posix.read(source, into: copyBuffer!)
        if case .done(let n) = result {
            if n == 0 { sourceAtEOF = true } else { pending = n; copyStart = 0; movedThisTurn += n }
            if n == Self.copyBufferSize { bulk = true }
        }
        return result
    }

    /// Writes pending bytes to the destination.
    private func flush() throws(SyscallError) -> IOResult<Int> {
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
