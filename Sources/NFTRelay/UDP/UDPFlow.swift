#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress
import SystemCalls

/// One UDP client of a listener: a socket connected to the target, carrying the client's
/// datagrams there and the target's replies back through the listener socket, sent from the
/// address the client originally sent to.
///
/// Flows are linked in their listener's activity list (`previous`/`next`), least recently
/// active first, for expiry and eviction.
///
/// Concurrency model: confined to the event loop thread.
final class UDPFlow: EventHandler {
    let fd: Int32
    let client: SocketAddress
    private let clientStorage: (sockaddr_storage, socklen_t)
    /// Where the client sent to (from packet info), used as the reply source.
    var local: (sockaddr_storage, Int32)?
    var lastActive: UInt64
    /// Where the flow's socket is connected.
    let target: SocketAddress
    /// A redirect listener's flow: the destination the client sent to (from its conntrack
    /// entry), its route's counters, and the routes' version it was checked at.
    var destination: SocketAddress?
    var counters: RouteCounters?
    var routesVersion = 0
    /// Whether sends to the target may use UDP GSO (false once the kernel refused it).
    var targetGSO = true
    var previous: UDPFlow?
    var next: UDPFlow?
    /// Its client address's group, and the links of that group's activity list.
    var source: FlowSource?
    var sourcePrevious: UDPFlow?
    var sourceNext: UDPFlow?
    private unowned let owner: UDPListener

    init(fd: Int32, client: SocketAddress, target: SocketAddress, owner: UDPListener, now: UInt64) {
        self.fd = fd
        self.target = target
        self.client = client
        clientStorage = client.storage
        self.owner = owner
        lastActive = now
    }

    /// Target replies: forwarded to the client in batches.
    func handle(fd: Int32, events: Epoll.Events) {
        owner.forwardReplies(of: self)
    }

    /// Sends `range` of the batch to the client through `listenerFD`.
    func sendToClient(_ batch: DatagramBatch, _ range: Range<Int>, listenerFD: Int32, gso: inout Bool) {
        var destination = clientStorage.0
        withUnsafePointer(to: &destination) { to in
            to.withMemoryRebound(to: sockaddr.self, capacity: 1) { to in
                if let local {
                    var source = local.0
                    let ifindex = local.1
                    withUnsafePointer(to: &source) { from in
                        from.withMemoryRebound(to: sockaddr.self, capacity: 1) { from in
                            _ = try? batch.send(listenerFD, range, gso: &gso, to: to, length: clientStorage.1, from: from, ifindex: ifindex)
                        }
                    }
                } else {
                    _ = try? batch.send(listenerFD, range, gso: &gso, to: to, length: clientStorage.1)
                }
            }
        }
    }
}
