import CNetfilter
#if canImport(Glibc)
import Glibc
#endif

/// A NETLINK_NETFILTER socket (libmnl), bound to the network namespace of the thread that
/// opened it: run `nftfwd` under `ip netns exec NS` and every query and batch goes to NS.
///
/// Concurrency model: not thread-safe; one owner at a time (a CLI call, or the thread of a
/// long-running daemon). The socket is close-on-exec so children never inherit it.
public final class NetlinkSocket {
    private let nl: OpaquePointer
    public let portID: UInt32
    private var nextSeq: UInt32
    /// One receive buffer for the socket's life; dump replies are at most a few pages each.
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private var sendBufferSize = 0

    public init() throws(NetlinkError) {
        guard let nl = mnl_socket_open2(NETLINK_NETFILTER, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw .system(call: "socket(NETLINK_NETFILTER)", errno: .current)
        }
        self.nl = nl
        if mnl_socket_bind(nl, 0, pid_t(MNL_SOCKET_AUTOPID)) < 0 {
            let e = Errno.current
            mnl_socket_close(nl)
            throw .system(call: "bind", errno: e)
        }
        portID = mnl_socket_get_portid(nl)
        // Extended ACKs carry the offset of the attribute the kernel disliked; capped ACKs
        // keep error replies small, so a batch with many failures cannot overflow us.
        var one: Int32 = 1
        _ = mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        receiveBuffer = .allocate(byteCount: 1 << 16, alignment: 16)
        var seed = timespec()
        clock_gettime(CLOCK_MONOTONIC, &seed)
        nextSeq = UInt32(truncatingIfNeeded: seed.tv_nsec) | NetlinkSocket.requestSeqBase
    }

    /// Requests are numbered from 2^31 up, batches (see `Batch`) from 1: a reply to one can
    /// never be taken for a reply to the other.
    static let requestSeqBase: UInt32 = 0x8000_0000

    deinit {
        mnl_socket_close(nl)
        receiveBuffer.deallocate()
    }

    /// A fresh sequence number for a request.
    public func allocateSeq() -> UInt32 {
        nextSeq &+= 1
        if nextSeq < NetlinkSocket.requestSeqBase { nextSeq = NetlinkSocket.requestSeqBase }
        return nextSeq
    }

    /// `count` consecutive sequence numbers, the first returned: replies to a pipelined
    /// chunk are matched by their distance from it.
    public func allocateSeqs(_ count: Int) -> UInt32 {
        var first = allocateSeq()
        if first &+ UInt32(count) < first {   // would wrap past 2^32: start again at the base
            nextSeq = NetlinkSocket.requestSeqBase
            first = allocateSeq()
        }
        nextSeq = first &+ UInt32(count - 1)
        return first
    }

    /// Makes sure one `sendto` of `bytes` fits the socket's send buffer: netlink refuses a
    /// datagram larger than it (EMSGSIZE) rather than splitting it. As root, the FORCE variant
    /// lifts the sysctl cap; the receive side grows too, so a reply per message still fits.
    /// Each reply costs about a page of receive buffer (truesize), whatever its length.
    func reserve(sendBytes bytes: Int, expectedReplies: Int) {
        let fd = mnl_socket_get_fd(nl)
        if bytes > sendBufferSize {
            var size = Int32(clamping: bytes + 65536)
            if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(4)) != 0 {
                // Without CAP_NET_ADMIN in the owning user namespace: the sysctl cap applies.
                _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(4))
            }
            sendBufferSize = bytes
        }
        let wanted = max(1 << 22, expectedReplies * 8192)
        if wanted > receiveBufferSize {
            var rcv = Int32(clamping: wanted)
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, socklen_t(4)) != 0 {
                _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, socklen_t(4))
            }
            receiveBufferSize = wanted
        }
    }
    private var receiveBufferSize = 0

    /// Sends one datagram (which may hold many netlink messages).
    func send(_ bytes: UnsafeRawBufferPointer) throws(NetlinkError) {
        reserve(sendBytes: bytes.count, expectedReplies: 0)
        while true {
            let n = mnl_socket_sendto(nl, bytes.baseAddress, bytes.count)
            if n >= 0 { return }
            if errno == EINTR { continue }
            throw .system(call: "sendto", errno: .current)
        }
    }

    /// Sends one datagram held in an array.
    func send(_ bytes: [UInt8]) throws(NetlinkError) {
        let result: Result<Void, NetlinkError> = bytes.withUnsafeBytes { raw in
            do throws(NetlinkError) { try send(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Reads replies until `handle` returns `.stop`. Each call of `handle` gets one message.
    func receive(_ handle: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> ReceiveAction) throws(NetlinkError) {
        while true {
            // One byte short of the buffer, and a NUL after what arrived: libnftnl reads the
            // strings inside expressions up to their NUL, so a string a reply leaves
            // unterminated stops inside the buffer (the nftnl fuzz target found the overread).
            let n = mnl_socket_recvfrom(nl, receiveBuffer.baseAddress, receiveBuffer.count - 1)
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(call: "recvfrom", errno: .current)
            }
            receiveBuffer[Int(n)] = 0
            let datagram = UnsafeRawBufferPointer(start: receiveBuffer.baseAddress, count: Int(n))
            let action = try NetlinkMessages.forEach(in: datagram) { header throws(NetlinkError) in
                guard header.pointee.nlmsg_pid == portID || header.pointee.nlmsg_pid == 0 else { return .more }
                return try handle(header)
            }
            if action == .stop { return }
        }
    }

    enum ReceiveAction { case more, stop }

    /// Receives the replies to dump request `seq` until its NLMSG_DONE, handing each data
    /// message to `each`; an error reply fails the dump, named by `what`.
    func receiveDump(seq: UInt32, what: @autoclosure () -> String,
                     _ each: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> Void) throws(NetlinkError) {
        try receive { nlh throws(NetlinkError) in
            guard nlh.pointee.nlmsg_seq == seq else { return .more }
            switch nlh.pointee.nlmsg_type {
            case UInt16(NLMSG_DONE): return .stop
            case UInt16(NLMSG_ERROR):
                var err = nftfwd_nlerr()
                nftfwd_parse_error(nlh, &err)
                if err.error != 0 { throw .request(what: what(), errno: Errno(err.error)) }
                return .stop
            default:
                try each(nlh)
                return .more
            }
        }
    }
}
