#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import NFTRelay
import NetworkAddress

/// What the old relay says of the sockets it hands over in one `DescriptorPassing` message
/// (`relay --replace`): one line per descriptor, in their order, after a version line:
///
///     nftfwd-takeover 2
///     tcp 0.0.0.0:8080
///     udp [::1]:53
///     redirect tcp 127.0.0.1:41234
///     flow udp 127.0.0.1:8053 target 198.18.2.2:9100 client 127.0.0.1:40000 scope 0 local 127.0.0.1 ifindex 1 idle 120
///     flow udp 127.0.0.1:41235 target 198.18.2.2:9100 client 127.0.0.1:40001 scope 0 local 127.0.0.1 ifindex 1 idle 80 destination 127.0.0.1:8053
///
/// A published port's socket is its protocol and address (the only kind of version 1, which
/// a message of nothing else still carries, so a relay of that version can take over from
/// this one); a loopback redirect socket (`LoopbackRedirect`) is `redirect` and its protocol and
/// address, one line per socket, whatever their number and protocols; a UDP flow (its socket
/// connected to the target, `UDPFlowHandover`) names its listener, the target, the client
/// (with its IPv6 scope), the address the client wrote to (`-` and ifindex 0 when not known)
/// and its silence in milliseconds; a flow of a redirect socket ends with `destination` and
/// what its client sent to, by which the successor finds its route. Every field is required,
/// in this order, single spaces.
/// The receiver does not take the text on trust: `check` compares each descriptor with its
/// line (socket type and protocol, listening state, bound address; for a flow, connected to
/// that target), so a wrong or hostile manifest is refused, not served.
struct HandedSocket: Hashable, Sendable, CustomStringConvertible {
    enum Role: Hashable, Sendable {
        /// A published port's listening (TCP) or bound (UDP) socket.
        case port
        /// A socket of the loopback redirect (its address on 127.0.0.1 or ::1).
        case redirect
        /// A flow of the UDP listener on `listen`.
        case flow(HandedFlow)
    }
    var role: Role
    var proto: ListenerSpec.TransportProtocol
    /// The socket's own address; for a flow, its listener's.
    var listen: SocketAddress

    init(role: Role = .port, proto: ListenerSpec.TransportProtocol, listen: SocketAddress) {
        self.role = role
        self.proto = proto
        self.listen = listen
    }

    var description: String {
        switch role {
        case .port: return "\(proto.rawValue) \(listen)"
        case .redirect: return "redirect \(proto.rawValue) \(listen)"
        case .flow(let f):
            let local = f.replySource.map { "\($0)" } ?? "-"
            let destination = f.destination.map { " destination \($0)" } ?? ""
            return "flow \(proto.rawValue) \(listen) target \(f.target) client \(f.client) scope \(f.client.scopeID) local \(local) ifindex \(f.interfaceIndex) idle \(f.idleMilliseconds)\(destination)"
        }
    }
}

/// A UDP flow's line, but the descriptor (`UDPFlowHandover` without its fd, plus the target).
struct HandedFlow: Hashable, Sendable {
    var target: SocketAddress
    var client: SocketAddress
    var replySource: IPAddress?
    var interfaceIndex: Int32
    var idleMilliseconds: UInt64
    /// A loopback redirect's flow: where its client sent to (nil for a port's flow).
    var destination: SocketAddress?

    init(target: SocketAddress, _ flow: UDPFlowHandover) {
        self.init(target: target, client: flow.client, replySource: flow.replySource, interfaceIndex: flow.interfaceIndex,
                  idleMilliseconds: flow.idleMilliseconds, destination: flow.destination)
    }

    init(target: SocketAddress, client: SocketAddress, replySource: IPAddress?, interfaceIndex: Int32, idleMilliseconds: UInt64,
         destination: SocketAddress? = nil) {
        self.destination = destination
        self.target = target
        self.client = client
        self.replySource = replySource
        self.interfaceIndex = interfaceIndex
        self.idleMilliseconds = idleMilliseconds
    }

    func handover(fd: Int32) -> UDPFlowHandover {
        UDPFlowHandover(fd: fd, client: client, replySource: replySource, interfaceIndex: interfaceIndex, idleMilliseconds: idleMilliseconds,
                        destination: destination, target: destination == nil ? nil : target)
    }
}

enum TakeoverManifest {
    /// Version 1: published ports' sockets only. Version 2: also redirect sockets and UDP flows.
    static func versionLine(_ version: Int) -> String { "nftfwd-takeover \(version)" }

    enum Failure: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case countMismatch(lines: Int, descriptors: Int)
        case wrongSocket(HandedSocket, String)

        var description: String {
            switch self {
            case .malformed(let why): return "the handover message is malformed: \(why)"
            case .countMismatch(let lines, let descriptors): return "the handover message names \(lines) socket(s) but carries \(descriptors) descriptor(s)"
            case .wrongSocket(let socket, let why): return "the descriptor handed over as \(socket) is not that socket: \(why)"
            }
        }
    }

    /// The message's text, of the lowest version that names all of `sockets`.
    static func encode(_ sockets: [HandedSocket]) -> [UInt8] {
        let version = sockets.allSatisfy { $0.role == .port } ? 1 : 2
        return Array((([versionLine(version)] + sockets.map(\.description)).joined(separator: "\n") + "\n").utf8)
    }

    /// `sockets` cut into messages of at most `maxDescriptors` descriptors and `maxBytes` of
    /// text each (a flow's line is up to ~250 bytes, so the count alone could overflow the
    /// receiver's buffer): the index ranges, in order.
    static func chunks(_ sockets: [HandedSocket], maxDescriptors: Int, maxBytes: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0, bytes = versionLine(2).utf8.count + 1
        for (i, socket) in sockets.enumerated() {
            let size = socket.description.utf8.count + 1
            if i > start && (i - start == maxDescriptors || bytes + size > maxBytes) {
                ranges.append(start..<i)
                start = i
                bytes = versionLine(2).utf8.count + 1
            }
            bytes += size
        }
        if start < sockets.count { ranges.append(start..<sockets.count) }
        return ranges
    }

    /// The sockets `bytes` names, which must be exactly `descriptors` many.
    static func decode(_ bytes: [UInt8], descriptors: Int) throws(Failure) -> [HandedSocket] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n") else { throw .malformed("no final newline") }
        var lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let version: Int
        switch lines.first {
        case versionLine(1): version = 1
        case versionLine(2): version = 2
        default: throw .malformed("the first line is not \"\(versionLine(2))\" (or 1)")
        }
        lines.removeFirst()
        var sockets: [HandedSocket] = []
        for line in lines {
            guard let socket = parse(line), version >= 2 || socket.role == .port else {
                throw .malformed("cannot read the line \"\(line.prefix(80))\"")
            }
            sockets.append(socket)
        }
        guard sockets.count == descriptors else { throw .countMismatch(lines: sockets.count, descriptors: descriptors) }
        return sockets
    }

    private static func parse(_ line: String) -> HandedSocket? {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        func proto(_ i: Int) -> ListenerSpec.TransportProtocol? { ListenerSpec.TransportProtocol(rawValue: parts[i]) }
        func address(_ i: Int) -> SocketAddress? { SocketAddress(parsing: parts[i]) }
        switch parts.first {
        case "redirect":
            guard parts.count == 3, let p = proto(1), let listen = address(2) else { return nil }
            return HandedSocket(role: .redirect, proto: p, listen: listen)
        case "flow":
            let keywords = [3: "target", 5: "client", 7: "scope", 9: "local", 11: "ifindex", 13: "idle"]
            // A redirect socket's flow adds `destination D` (what its client sent to).
            var destination: SocketAddress?
            if parts.count == 17 {
                guard parts[15] == "destination", let d = address(16), d.family == address(2)?.family else { return nil }
                destination = d
            }
            guard parts.count == 15 || destination != nil, keywords.allSatisfy({ parts[$0.key] == $0.value }), proto(1) == .udp,
                  let listen = address(2), let target = address(4), var client = address(6),
                  let scope = decimal(parts[8]).flatMap(UInt32.init(exactly:)),
                  let ifindex = decimal(parts[12]).flatMap(Int32.init(exactly:)),
                  let idle = decimal(parts[14]) else { return nil }
            let local: IPAddress?
            if parts[10] == "-" {
                guard ifindex == 0 else { return nil }
                local = nil
            } else {
                guard let ip = IPAddress(parts[10]), ip.family == listen.family else { return nil }
                local = ip
            }
            guard client.family == listen.family, scope == 0 || client.family == .ipv6 else { return nil }
            client.scopeID = scope
            return HandedSocket(role: .flow(HandedFlow(target: target, client: client, replySource: local, interfaceIndex: ifindex, idleMilliseconds: idle,
                                                       destination: destination)),
                                proto: .udp, listen: listen)
        default:
            guard parts.count == 2, let p = proto(0), let listen = address(1) else { return nil }
            return HandedSocket(proto: p, listen: listen)
        }
    }

    /// Plain decimal digits without a leading zero (but "0"), at most 10 of them.
    private static func decimal(_ text: String) -> UInt64? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              digits.first != 48 || digits.count == 1 else { return nil }
        return UInt64(text)
    }

    /// Throws unless `fd` is the socket `socket` names: of its protocol (TCP: listening), bound
    /// to its address; a flow's, a UDP socket connected to the flow's target.
    static func check(_ fd: Int32, is socket: HandedSocket) throws(Failure) {
        func option(_ name: Int32) -> Int32? { Sockets.option(fd, SOL_SOCKET, name, as: Int32(0)) }
        guard let type = option(SO_TYPE) else { throw .wrongSocket(socket, "not a socket (errno \(errno))") }
        switch socket.proto {
        case .tcp:
            guard type == Int32(SOCK_STREAM.rawValue), option(SO_ACCEPTCONN) == 1 else { throw .wrongSocket(socket, "not a listening stream socket") }
        case .udp:
            guard type == Int32(SOCK_DGRAM.rawValue), option(SO_PROTOCOL) == Int32(IPPROTO_UDP) else { throw .wrongSocket(socket, "not a UDP socket") }
        }
        guard let bound = boundAddress(fd) else { throw .wrongSocket(socket, "not bound to an IP address") }
        if case .flow(let flow) = socket.role {
            // The flow's own address is wherever connect put it; what matters is its peer.
            guard bound.family == flow.target.family else { throw .wrongSocket(socket, "it is of the other address family") }
            guard let peer = Sockets.peerAddress(fd) else { throw .wrongSocket(socket, "it is not connected") }
            guard peer.ip == flow.target.ip, peer.port == flow.target.port else { throw .wrongSocket(socket, "it is connected to \(peer)") }
            return
        }
        guard bound.ip == socket.listen.ip, bound.port == socket.listen.port else {
            throw .wrongSocket(socket, "it is bound to \(bound)")
        }
    }

    /// The handed socket's bound address (getsockname), nil if it cannot be told.
    private static func boundAddress(_ fd: Int32) -> SocketAddress? { try? Sockets.localAddress(fd) }
}
