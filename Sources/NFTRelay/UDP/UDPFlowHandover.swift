import NetworkAddress

/// One UDP flow as a relay hands it to its successor (`relay --replace`) and the successor
/// adopts it (`ListenerSpec.adoptedFlows`): the flow's socket, connected to the listener's
/// target, so the target keeps seeing the same source address and port, and what the flow
/// needs to send replies on: the client's address and the local address the client wrote to.
public struct UDPFlowHandover: Hashable, Sendable {
    /// A socket connected to the listener's target (a duplicate: the holder's to close).
    public var fd: Int32
    public var client: SocketAddress
    /// The address the client sent to (from packet info), replies' source; nil if not known yet.
    public var replySource: IPAddress?
    /// The interface index packet info gave with `replySource` (0 when none).
    public var interfaceIndex: Int32
    /// How long the flow has been silent: the successor's idle timeout counts on from there.
    public var idleMilliseconds: UInt64
    /// A redirect listener's flow: the destination its client sent to (the successor finds
    /// its route by it) and the target its socket is connected to; nil for a port's flow.
    public var destination: SocketAddress?
    public var target: SocketAddress?

    public init(fd: Int32, client: SocketAddress, replySource: IPAddress?, interfaceIndex: Int32, idleMilliseconds: UInt64,
                destination: SocketAddress? = nil, target: SocketAddress? = nil) {
        self.destination = destination
        self.target = target
        self.fd = fd
        self.client = client
        self.replySource = replySource
        self.interfaceIndex = interfaceIndex
        self.idleMilliseconds = idleMilliseconds
    }
}
