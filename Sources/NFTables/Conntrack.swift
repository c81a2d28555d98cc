import CNetfilter
import NetworkAddress
#if canImport(Glibc)
import Glibc
#endif

/// One connection-tracking entry as ctnetlink lists it.
///
/// `source`/`destination` are the original direction: who sent the first packet, and to which
/// address and port (before any DNAT). `replySource` is where replies come from: for a flow
/// the kernel DNATed, the target it was sent to. `replyDestination` is where replies go: for
/// a flow the kernel masqueraded (or SNATed), the address it gave as source, not `source`.
public struct ConntrackFlow: Sendable, Hashable, CustomStringConvertible {
    /// `.ipv4` or `.ipv6`.
    public var family: AddressFamily
    /// The IP protocol number (17 for UDP).
    public var proto: UInt8
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16
    /// nil for an entry without a reply tuple.
    public var replySource: IPAddress?
    public var replySourcePort: UInt16
    public var replyDestination: IPAddress?
    /// The kernel's id of the entry (CTA_ID): a new entry for the same tuple has another one.
    public var id: UInt32
    /// The entry's conntrack labels (CTA_LABELS, bit N at byte N / 8, bit N % 8), empty if
    /// it has none.
    public var labels: [UInt8] = []

    public init(family: AddressFamily, proto: UInt8, source: IPAddress, sourcePort: UInt16, destination: IPAddress,
                destinationPort: UInt16, replySource: IPAddress?, replySourcePort: UInt16, replyDestination: IPAddress?, id: UInt32) {
        self.family = family
        self.proto = proto
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
        self.replySource = replySource
        self.replySourcePort = replySourcePort
        self.replyDestination = replyDestination
        self.id = id
    }

    /// The kernel translated the source (masquerade, SNAT): replies go to another address.
    public var sourceIsTranslated: Bool { replyDestination != nil && replyDestination != source }

    public var description: String {
        func text(_ a: IPAddress?, _ port: UInt16) -> String { (a?.bracketed ?? "?") + ":\(port)" }
        return "proto \(proto) \(text(source, sourcePort)) -> \(text(destination, destinationPort))"
            + " (replies from \(text(replySource, replySourcePort)) to \(replyDestination?.description ?? "?"), id \(id))"
    }
}

/// The kernel's connection tracking table over ctnetlink (NETLINK_NETFILTER, subsystem
/// NFNL_SUBSYS_CTNETLINK), in the network namespace of its socket: list entries, delete the
/// ones a predicate selects. Which flows a change of published ports or masquerade rules
/// leaves on a stale path is the domain's question (PortForwarding's `ConntrackFilter`).
///
/// Concurrency model: like its socket, owned by one thread at a time.
public final class Conntrack {
    public let socket: NetlinkSocket

    /// Shares a socket with `NFTables` (the same netlink family serves both subsystems).
    public init(socket: NetlinkSocket) {
        self.socket = socket
    }

    public convenience init() throws(NetlinkError) {
        self.init(socket: try NetlinkSocket())
    }

    /// Every entry of `family` (`.ipv4` or `.ipv6`): one dump (IPCTNL_MSG_CT_GET, NLM_F_DUMP);
    /// the kernel filters by the family given in the request header.
    public func flows(_ family: AddressFamily) throws(NetlinkError) -> [ConntrackFlow] {
        try dump(family) { _ in true }.map(\.flow)
    }

    /// Deletes the entries of `family` that `selects` picks and returns how many the kernel
    /// deleted (which ones is the caller's business: PortForwarding's `ConntrackFilter`s).
    ///
    /// One dump, then one delete per selected entry (pipelined, 256 per datagram), each naming
    /// the entry by its original tuple exactly as the dump gave it (zone included) and by its
    /// id, so an entry created for the same tuple after the dump is left alone. An entry that
    /// is gone by then (ENOENT: it expired, or its id changed) is not an error and is not counted.
    @discardableResult
    public func deleteFlows(_ family: AddressFamily, where selects: (ConntrackFlow) -> Bool) throws(NetlinkError) -> Int {
        let victims = try dump(family, keeping: selects)
        var deleted = 0, start = 0
        while start < victims.count {
            let end = min(start + 256, victims.count)
            deleted += try delete(victims[start..<end], family: family)
            start = end
        }
        return deleted
    }

    // MARK: - Lookup

    /// The original direction's destination of the entry whose reply tuple is `proto` from
    /// `replySource` to `replyDestination`, or nil when there is none (ENOENT).
    ///
    /// What the relay's UDP redirect asks for a new flow: the kernel's `redirect` rewrote the
    /// datagram's destination to the relay's socket, and the entry alone still knows where
    /// the client sent it. Seen from that socket, the reply tuple is what it has: from its
    /// own address to the client. One request (IPCTNL_MSG_CT_GET naming CTA_TUPLE_REPLY, no
    /// dump), answered inside the send, so one round trip.
    public func originalDestination(proto: UInt8, replySource: SocketAddress, replyDestination: SocketAddress) throws(NetlinkError) -> SocketAddress? {
        let family = replySource.family
        let seq = socket.allocateSeq()
        let request = Conntrack.message(IPCTNL_MSG_CT_GET, flags: NLM_F_ACK, family: family, seq: seq) { nlh in
            let tuple = mnl_attr_nest_start(nlh, UInt16(CTA_TUPLE_REPLY.rawValue))
            let ip = mnl_attr_nest_start(nlh, UInt16(CTA_TUPLE_IP.rawValue))
            let (src, dst) = family == .ipv4 ? (CTA_IP_V4_SRC.rawValue, CTA_IP_V4_DST.rawValue) : (CTA_IP_V6_SRC.rawValue, CTA_IP_V6_DST.rawValue)
            for (type, address) in [(src, replySource.ip), (dst, replyDestination.ip)] {
                address.bytes.withUnsafeBytes { mnl_attr_put(nlh, UInt16(type), $0.count, $0.baseAddress) }
            }
            mnl_attr_nest_end(nlh, ip)
            let ports = mnl_attr_nest_start(nlh, UInt16(CTA_TUPLE_PROTO.rawValue))
            mnl_attr_put_u8(nlh, UInt16(CTA_PROTO_NUM.rawValue), proto)
            mnl_attr_put_u16(nlh, UInt16(CTA_PROTO_SRC_PORT.rawValue), replySource.port.bigEndian)
            mnl_attr_put_u16(nlh, UInt16(CTA_PROTO_DST_PORT.rawValue), replyDestination.port.bigEndian)
            mnl_attr_nest_end(nlh, ports)
            mnl_attr_nest_end(nlh, tuple)
        }
        try socket.send(request)
        var found: SocketAddress?
        var failure: Errno?
        try socket.receive { nlh throws(NetlinkError) in
            guard nlh.pointee.nlmsg_seq == seq else { return .more }
            guard nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR) else {
                if let entry = Conntrack.parse(nlh) {
                    found = SocketAddress(ip: entry.flow.destination, port: entry.flow.destinationPort)
                }
                return .more   // the ACK follows
            }
            var err = nftfwd_nlerr()
            nftfwd_parse_error(nlh, &err)
            if err.error != 0 && err.error != ENOENT { failure = Errno(err.error) }
            return .stop
        }
        if let failure { throw .request(what: "look up a conntrack entry", errno: failure) }
        return found
    }

    // MARK: - Dump

    /// An entry as dumped, with what a delete must repeat: the payload of its CTA_TUPLE_ORIG
    /// and its zone.
    struct Entry {
        var flow: ConntrackFlow
        var originalTuple: [UInt8]
        var zone: UInt16?
    }

    /// The entries of `family` that `keep` accepts (the others are dropped as they arrive, so
    /// a table of 100,000 entries is never held whole).
    private func dump(_ family: AddressFamily, keeping keep: (ConntrackFlow) -> Bool) throws(NetlinkError) -> [Entry] {
        let seq = socket.allocateSeq()
        let request = Conntrack.message(IPCTNL_MSG_CT_GET, flags: NLM_F_DUMP, family: family, seq: seq) { _ in }
        try socket.send(request)
        var entries: [Entry] = []
        try socket.receiveDump(seq: seq, what: "list conntrack entries (\(family))") { nlh in
            if let entry = Conntrack.parse(nlh), keep(entry.flow) { entries.append(entry) }
        }
        return entries
    }

    /// Reads one IPCTNL_MSG_CT_NEW message of a dump; nil for an entry without a complete
    /// original tuple (nothing a filter could select).
    static func parse(_ nlh: UnsafePointer<nlmsghdr>) -> Entry? {
        guard Int(nlh.pointee.nlmsg_len) >= nftfwd_nlmsg_hdrlen() + MemoryLayout<nfgenmsg>.size,
              UInt32(nlh.pointee.nlmsg_type) >> 8 == UInt32(NFNL_SUBSYS_CTNETLINK) else { return nil }
        let header = mnl_nlmsg_get_payload(nlh)!.assumingMemoryBound(to: nfgenmsg.self).pointee
        let family: AddressFamily
        switch Int32(header.nfgen_family) {
        case AF_INET: family = .ipv4
        case AF_INET6: family = .ipv6
        default: return nil
        }
        var original: Tuple?, reply: Tuple?, originalBytes: [UInt8] = []
        var id: UInt32 = 0, zone: UInt16?, labels: [UInt8] = []
        forEachAttribute(after: MemoryLayout<nfgenmsg>.size, in: nlh) { attr in
            switch UInt32(mnl_attr_get_type(attr)) {
            case CTA_TUPLE_ORIG.rawValue:
                original = Tuple(attr)
                originalBytes = Array(UnsafeRawBufferPointer(start: mnl_attr_get_payload(attr),
                                                             count: Int(mnl_attr_get_payload_len(attr))))
            case CTA_TUPLE_REPLY.rawValue:
                reply = Tuple(attr)
            case CTA_ID.rawValue where mnl_attr_get_payload_len(attr) == 4:
                id = UInt32(bigEndian: mnl_attr_get_u32(attr))
            case CTA_LABELS.rawValue:
                labels = Array(UnsafeRawBufferPointer(start: mnl_attr_get_payload(attr), count: Int(mnl_attr_get_payload_len(attr))))
            case CTA_ZONE.rawValue where mnl_attr_get_payload_len(attr) == 2:
                zone = mnl_attr_get_u16(attr)   // kept in network order: sent back as read
            default: break
            }
        }
        guard let original, let source = original.source, let destination = original.destination,
              let proto = original.proto else { return nil }
        // The netlink boundary: the tuple's 4 or 16 bytes become addresses here.
        var flow = ConntrackFlow(family: family, proto: proto,
                                 source: IPAddress(bytes: source), sourcePort: original.sourcePort,
                                 destination: IPAddress(bytes: destination), destinationPort: original.destinationPort,
                                 replySource: reply?.source.map { IPAddress(bytes: $0) }, replySourcePort: reply?.sourcePort ?? 0,
                                 replyDestination: reply?.destination.map { IPAddress(bytes: $0) }, id: id)
        flow.labels = labels
        return Entry(flow: flow, originalTuple: originalBytes, zone: zone)
    }

    /// The fields of a CTA_TUPLE_ORIG or CTA_TUPLE_REPLY nest:
    /// CTA_TUPLE_IP > CTA_IP_V4_SRC/DST (or V6), CTA_TUPLE_PROTO > CTA_PROTO_NUM, SRC/DST_PORT.
    struct Tuple {
        var source: [UInt8]?, destination: [UInt8]?
        var proto: UInt8?
        var sourcePort: UInt16 = 0, destinationPort: UInt16 = 0

        init(_ nest: UnsafePointer<nlattr>) {
            forEachNested(nest) { attr in
                switch UInt32(mnl_attr_get_type(attr)) {
                case CTA_TUPLE_IP.rawValue:
                    forEachNested(attr) { ip in
                        let bytes = Array(UnsafeRawBufferPointer(start: mnl_attr_get_payload(ip),
                                                                 count: Int(mnl_attr_get_payload_len(ip))))
                        switch UInt32(mnl_attr_get_type(ip)) {
                        case CTA_IP_V4_SRC.rawValue where bytes.count == 4: source = bytes
                        case CTA_IP_V4_DST.rawValue where bytes.count == 4: destination = bytes
                        case CTA_IP_V6_SRC.rawValue where bytes.count == 16: source = bytes
                        case CTA_IP_V6_DST.rawValue where bytes.count == 16: destination = bytes
                        default: break
                        }
                    }
                case CTA_TUPLE_PROTO.rawValue:
                    forEachNested(attr) { p in
                        let length = mnl_attr_get_payload_len(p)
                        switch UInt32(mnl_attr_get_type(p)) {
                        case CTA_PROTO_NUM.rawValue where length == 1: proto = mnl_attr_get_u8(p)
                        // Ports travel in network byte order.
                        case CTA_PROTO_SRC_PORT.rawValue where length == 2: sourcePort = UInt16(bigEndian: mnl_attr_get_u16(p))
                        case CTA_PROTO_DST_PORT.rawValue where length == 2: destinationPort = UInt16(bigEndian: mnl_attr_get_u16(p))
                        default: break
                        }
                    }
                default: break
                }
            }
        }
    }

    // MARK: - Delete

    /// Deletes `entries` in one datagram; returns how many the kernel deleted.
    private func delete(_ entries: ArraySlice<Entry>, family: AddressFamily) throws(NetlinkError) -> Int {
        var datagram: [UInt8] = []
        var pending = Set<UInt32>()
        for entry in entries {
            // A DELETE without a tuple is a flush of the whole table: never send one.
            guard !entry.originalTuple.isEmpty else { continue }
            let seq = socket.allocateSeq()
            pending.insert(seq)
            datagram += Conntrack.message(IPCTNL_MSG_CT_DELETE, flags: NLM_F_ACK, family: family, seq: seq) { nlh in
                entry.originalTuple.withUnsafeBytes { tuple in
                    mnl_attr_put(nlh, UInt16(CTA_TUPLE_ORIG.rawValue) | UInt16(NLA_F_NESTED), tuple.count, tuple.baseAddress)
                }
                if let zone = entry.zone { mnl_attr_put_u16(nlh, UInt16(CTA_ZONE.rawValue), zone) }
                mnl_attr_put_u32(nlh, UInt16(CTA_ID.rawValue), entry.flow.id.bigEndian)
            }
        }
        guard !pending.isEmpty else { return 0 }
        socket.reserve(sendBytes: datagram.count, expectedReplies: pending.count)
        try socket.send(datagram)
        var deleted = 0
        var failure: Errno?
        try socket.receive { nlh throws(NetlinkError) in
            guard nlh.pointee.nlmsg_type == UInt16(NLMSG_ERROR), pending.remove(nlh.pointee.nlmsg_seq) != nil else { return .more }
            var err = nftfwd_nlerr()
            nftfwd_parse_error(nlh, &err)
            switch err.error {
            case 0: deleted += 1
            case ENOENT: break   // expired, or replaced by a newer entry, since the dump
            default: failure = failure ?? Errno(err.error)
            }
            return pending.isEmpty ? .stop : .more
        }
        if let failure { throw .request(what: "delete conntrack entry", errno: failure) }
        return deleted
    }

    // MARK: - Messages

    /// One ctnetlink message: header, nfgenmsg for `family`, then what `body` appends.
    private static func message(_ type: cntl_msg_types, flags: Int32, family: AddressFamily, seq: UInt32,
                                _ body: (UnsafeMutablePointer<nlmsghdr>) -> Void) -> [UInt8] {
        // The largest message is a delete: an IPv6 tuple (about 80 bytes), a zone and an id.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 8)
        defer { buffer.deallocate() }
        let nlh = mnl_nlmsg_put_header(buffer)!
        nlh.pointee.nlmsg_type = UInt16(NFNL_SUBSYS_CTNETLINK << 8) | UInt16(type.rawValue)
        nlh.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | flags)
        nlh.pointee.nlmsg_seq = seq
        let header = mnl_nlmsg_put_extra_header(nlh, MemoryLayout<nfgenmsg>.size)!.assumingMemoryBound(to: nfgenmsg.self)
        header.pointee.nfgen_family = UInt8(TableFamily(family).kernelValue)
        header.pointee.version = UInt8(NFNETLINK_V0)
        header.pointee.res_id = 0
        body(nlh)
        return Array(UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(nlh.pointee.nlmsg_len))))
    }
}

/// Visits each attribute in `length` bytes at `start`, as libmnl's mnl_attr_for_each macros
/// (which Swift cannot import) do: mnl_attr_ok stops at a truncated or malformed attribute.
func forEachAttribute(at start: UnsafeRawPointer, length: Int, _ body: (UnsafePointer<nlattr>) -> Void) {
    var attr = start.assumingMemoryBound(to: nlattr.self)
    var left = length
    while left > 0 && mnl_attr_ok(attr, Int32(left)) {
        body(attr)
        let next = UnsafePointer(mnl_attr_next(attr)!)
        left -= UnsafeRawPointer(next) - UnsafeRawPointer(attr)
        attr = next
    }
}

/// Visits the attributes of message `nlh` that follow its `headerSize` bytes of family header.
/// The end is the message's length, not its aligned length (libmnl's payload tail): the last
/// message of a datagram may stop short of the alignment padding.
func forEachAttribute(after headerSize: Int, in nlh: UnsafePointer<nlmsghdr>, _ body: (UnsafePointer<nlattr>) -> Void) {
    let start = nftfwd_nlmsg_align(nftfwd_nlmsg_hdrlen()) + nftfwd_nlmsg_align(headerSize)
    let length = Int(nlh.pointee.nlmsg_len)
    guard length > start else { return }
    forEachAttribute(at: UnsafeRawPointer(nlh) + start, length: length - start, body)
}

/// Visits the attributes nested in `nest`.
func forEachNested(_ nest: UnsafePointer<nlattr>, _ body: (UnsafePointer<nlattr>) -> Void) {
    forEachAttribute(at: UnsafeRawPointer(mnl_attr_get_payload(nest)!), length: Int(mnl_attr_get_payload_len(nest)), body)
}
