import SystemCalls
/// A pipe used as the in-kernel buffer of one splice direction.
struct SplicePipe {
    let readFD: Int32
    let writeFD: Int32
}

/// Pipes for splice, lent to a connection direction only while it has bytes in flight, so an
/// idle connection holds just its two sockets. Only empty pipes come back; a pipe that still
/// holds bytes when its connection dies is closed instead. Beside them, the loop's one copy
/// buffer (`scratch`) for the directions that still relay with recv/send.
///
/// Concurrency model: owned by one event loop thread.
final class PipePool {
    /// Bytes a pipe can hold; every pipe in the pool has this capacity.
    let capacity: Int
    /// 64 KiB every direction of the loop reads into and sends from within one `pump` call
    /// (handlers run one at a time), so a small message costs no allocation; bytes left when
    /// the call ends are copied out by their direction (`RelayDirection.keepPending`).
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    private let requestedCapacity: Int
    private let maxIdle: Int
    private var idle: [SplicePipe] = []

    /// 1 MiB (the default pipe-max-size) measured ~10 % faster than 256 KiB for one stream;
    /// an empty pipe holds no data pages, so idle pooled pipes cost little.
    init(capacity: Int = 1024 * 1024, maxIdle: Int = 64) {
        requestedCapacity = capacity
        self.maxIdle = maxIdle
        // The real capacity is what F_SETPIPE_SZ granted; measure it once with a first pipe.
        if let (r, w, granted) = try? Splice.makePipe(capacity: capacity) {
            self.capacity = granted
            idle.append(SplicePipe(readFD: r, writeFD: w))
        } else {
            self.capacity = 65536
        }
    }

    deinit {
        for pipe in idle { Posix.close(pipe.readFD); Posix.close(pipe.writeFD) }
        scratch.deallocate()
    }

    var idleCount: Int { idle.count }

    /// An idle pipe, or a new one. A new pipe may be smaller than `capacity` (the kernel
    /// limits pipe memory per user); splice then just moves less per call.
    func take() throws(SyscallError) -> SplicePipe {
        if let pipe = idle.popLast() { return pipe }
        let (r, w, _) = try Splice.makePipe(capacity: requestedCapacity)
        return SplicePipe(readFD: r, writeFD: w)
    }

    /// Returns an empty pipe.
    func give(_ pipe: SplicePipe) {
        if idle.count < maxIdle { idle.append(pipe) } else { discard(pipe) }
    }

    /// Closes a pipe that may hold stale bytes.
    func discard(_ pipe: SplicePipe) {
        Posix.close(pipe.readFD)
        Posix.close(pipe.writeFD)
    }
}
