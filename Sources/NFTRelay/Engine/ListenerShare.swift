#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Synchronization
import NetworkAddress

/// The state of one listener that all loops serving it must agree on: connections per
/// client address (the per-source limit counts across loops) and the episode of failing
/// target connections (reported once, whichever loop sees it first).
///
/// Concurrency model: shared by the loops of one listener, behind one lock, which is taken
/// only when a per-source limit is set (twice per connection) and on failures, never per byte.
final class ListenerShare: Sendable {
    private struct Source {
        var active = 0
        /// Connections refused since the source reached the limit; nil while it is below.
        var refused: Int?
    }

    private struct State {
        var sources: [IPAddress: Source] = [:]
        /// Failed target connections of the open episode; nil when none is open.
        var failures: Int?
        /// When the last of them failed (monotonic ns).
        var lastFailure: UInt64 = 0
    }

    let id: ListenerID
    let perSourceLimit: Int?
    private let events: RelayEventSink?
    private let state = Mutex(State())

    init(id: ListenerID, perSourceLimit: Int?, events: RelayEventSink?) {
        self.id = id
        self.perSourceLimit = perSourceLimit
        self.events = events
    }

    // MARK: per-source limit (TCP)

    /// Counts one more connection of `source`; false (and counted as refused) at the limit.
    func admit(_ source: IPAddress) -> Bool {
        guard let limit = perSourceLimit else { return true }
        let (admitted, firstRefusal) = state.withLock { state -> (Bool, Bool) in
            var entry = state.sources[source, default: Source()]
            defer { state.sources[source] = entry }
            if entry.active < limit {
                entry.active += 1
                return (true, false)
            }
            let first = entry.refused == nil
            entry.refused = (entry.refused ?? 0) + 1
            return (false, first)
        }
        if firstRefusal { events?(.sourceLimitReached(id, source: source, limit: limit)) }
        return admitted
    }

    /// A connection of `source` admitted by `admit` ended.
    func release(_ source: IPAddress) {
        guard perSourceLimit != nil else { return }
        let refused = state.withLock { state -> Int? in
            guard var entry = state.sources[source] else { return nil }
            entry.active -= 1
            if entry.active > 0 {
                state.sources[source] = entry
                return nil
            }
            state.sources[source] = nil
            return entry.refused
        }
        if let refused { events?(.sourceLimitEnded(id, source: source, refused: refused)) }
    }

    // MARK: target failures

    /// An episode ends only after this long without a failure: near the limit, successes and
    /// failures alternate (each close lets one client in, the next fails), and that is one
    /// episode, not one per flip.
    static let quietPeriod: UInt64 = 10_000_000_000

    /// A connection to the target failed for want of a local resource.
    func targetFailed(_ error: SyscallError) {
        let now = MonotonicClock.now()
        let first = state.withLock { state -> Bool in
            defer { state.failures = (state.failures ?? 0) + 1; state.lastFailure = now }
            return state.failures == nil
        }
        if first { events?(.targetResourcesExhausted(id, error)) }
    }

    /// A connection to the target succeeded after this loop saw failures. Returns false
    /// while the episode goes on (the last failure is recent): ask again at the next success.
    func targetRecovered() -> Bool {
        let now = MonotonicClock.now()
        let ended = state.withLock { state -> (Bool, Int?) in
            guard let failures = state.failures else { return (true, nil) }
            guard now &- state.lastFailure >= Self.quietPeriod else { return (false, nil) }
            state.failures = nil
            return (true, failures)
        }
        if let failures = ended.1 { events?(.targetResourcesRecovered(id, failures: failures)) }
        return ended.0
    }

    /// Events of one loop-confined listener (UDP), which keeps its own counts.
    func report(_ event: RelayEvent) { events?(event) }

    /// Whether `error` means the host ran out of something for new connections (as opposed
    /// to a refusing or unreachable target, which is the target's business).
    static func isResourceShortage(_ error: SyscallError) -> Bool {
        switch error.errno {
        case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory,
             Errno(rawValue: EADDRNOTAVAIL), .wouldBlock:
            return true
        default:
            return false
        }
    }
}
