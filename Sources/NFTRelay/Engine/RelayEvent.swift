import NetworkAddress
import SystemCalls
/// Something about a listener worth one log line. Each is reported once per episode (the
/// first failure, then the end with a count), never per connection, so a flood of refused
/// or failing clients cannot flood the log.
public enum RelayEvent: Sendable, Equatable {
    /// Connections to the listener's target began to fail for want of a local resource:
    /// ephemeral ports (connect: EADDRNOTAVAIL), descriptors (EMFILE, ENFILE) or socket
    /// memory. Further failures are only counted.
    case targetResourcesExhausted(ListenerID, SyscallError)
    /// A connection to the target succeeded after 10 s without a failure (near the limit
    /// successes and failures alternate: that is one episode); `failures` counts them all.
    case targetResourcesRecovered(ListenerID, failures: Int)
    /// A client address reached the per-source limit (`ListenerSpec.perSourceLimit`): its
    /// further TCP connections are reset at once, its new UDP flows replace its own oldest.
    case sourceLimitReached(ListenerID, source: IPAddress, limit: Int)
    /// That client address holds no connection (or flow) any more; `refused` counts what the
    /// limit turned away (TCP connections reset, UDP flows replaced) in the meantime.
    case sourceLimitEnded(ListenerID, source: IPAddress, refused: Int)
}

/// Where a `RelayEngine` reports its events; called on a loop thread, so it must be quick
/// and thread-safe (a log line is fine).
public typealias RelayEventSink = @Sendable (RelayEvent) -> Void
