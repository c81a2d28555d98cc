import NetworkAddress

/// A point-in-time view of one listener.
public struct ListenerStats: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        case listening
        /// Accepting failed unexpectedly after the listener was added (the reason is the
        /// system error). The listener retries every 100 ms and is `.listening` again once an
        /// accept succeeds; a listener whose loop registration failed stays in this state.
        case error(String)
    }

    public var id: ListenerID
    public var spec: ListenerSpec
    /// The address actually bound (differs from `spec.listen` when port 0 was asked for).
    public var boundAddress: SocketAddress
    public var state: State
    /// TCP: connections being relayed (including those still connecting to the target).
    /// UDP: flows in the table.
    public var activeConnections: Int
    /// TCP: connections accepted since the listener was added. UDP: flows created.
    public var totalConnections: Int
    /// Refused by the allow-list (`ListenerSpec.allowedSources`) since the listener was
    /// added: TCP connections closed at accept, UDP datagrams dropped (each one, as the
    /// kernel's drop counter counts every packet it drops).
    public var refusedSources: Int = 0
}
