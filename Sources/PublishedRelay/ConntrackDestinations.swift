import NFTables
import NFTRelay
import NetworkAddress
import Synchronization

/// The UDP redirect's lookup (`DatagramDestinations`): a new flow's original destination from
/// its conntrack entry, asked over ctnetlink by the reply tuple, which is what the relay's
/// socket sees (from its own address to the client's). One netlink socket, opened in the
/// relay's network namespace; the lock is for form, since the engine serves every UDP
/// listener from one loop.
final class ConntrackDestinations: DatagramDestinations {
    private let conntrack: Mutex<Conntrack>

    init() throws(NetlinkError) {
        conntrack = Mutex(try Conntrack())
    }

    func originalDestination(client: SocketAddress, redirectedTo local: SocketAddress) -> SocketAddress? {
        conntrack.withLock { conntrack in
            try? conntrack.originalDestination(proto: 17, replySource: local, replyDestination: client)   // 17: UDP
        }
    }
}
