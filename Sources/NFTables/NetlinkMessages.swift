import CNetfilter

/// Splits one datagram from a netlink socket into its messages.
enum NetlinkMessages {
    /// Hands each whole message of `datagram` to `body` until it returns `.stop`; returns what
    /// it returned last (`.more` when the datagram ran out). A message whose length is shorter
    /// than its header or runs past the datagram's end fails the datagram: nothing after it
    /// can be framed. `datagram` must start 4-byte aligned (NLMSG_ALIGNTO), as messages do.
    static func forEach(in datagram: UnsafeRawBufferPointer,
                        _ body: (UnsafePointer<nlmsghdr>) throws(NetlinkError) -> NetlinkSocket.ReceiveAction)
        throws(NetlinkError) -> NetlinkSocket.ReceiveAction {
        guard let base = datagram.baseAddress else { return .more }
        var offset = 0
        let total = datagram.count
        while offset + MemoryLayout<nlmsghdr>.size <= total {
            let header = (base + offset).assumingMemoryBound(to: nlmsghdr.self)
            let length = Int(header.pointee.nlmsg_len)
            guard length >= MemoryLayout<nlmsghdr>.size, length <= total - offset else {
                throw .malformedReply("truncated netlink message (\(length) bytes at \(offset) of \(total))")
            }
            if try body(header) == .stop { return .stop }
            offset += nftfwd_nlmsg_align(length)
        }
        return .more
    }
}
