#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import NFTRelay
import NetworkAddress

/// What the old relay says of the sockets it hands over in one `DescriptorPassing` message
/// (`relay --replace`): one line per descriptor, in their order, after a version line:
///
///     nftfwd-takeover 1
///     tcp 0.0.0.0:8080
///     udp [::1]:53
///
/// Generic over every socket the relay holds open for clients (per-port listeners today; any
/// other listening socket is one more line of its protocol and address). The receiver does not
/// take the text on trust: `check` compares each descriptor with its line (socket type,
/// listening state, bound address), so a wrong or hostile manifest is refused, not served.
struct HandedSocket: Hashable, Sendable, CustomStringConvertible {
    var proto: ListenerSpec.TransportProtocol
    var listen: SocketAddress
    var description: String { "\(proto.rawValue) \(listen)" }
}

enum TakeoverManifest {
    static let versionLine = "nftfwd-takeover 1"

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

    static func encode(_ sockets: [HandedSocket]) -> [UInt8] {
        Array((([versionLine] + sockets.map(\.description)).joined(separator: "\n") + "\n").utf8)
    }

    /// The sockets `bytes` names, which must be exactly `descriptors` many.
    static func decode(_ bytes: [UInt8], descriptors: Int) throws(Failure) -> [HandedSocket] {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasSuffix("\n") else { throw .malformed("no final newline") }
        var lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.first == versionLine else { throw .malformed("the first line is not \"\(versionLine)\"") }
        lines.removeFirst()
        var sockets: [HandedSocket] = []
        for line in lines {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let proto = ListenerSpec.TransportProtocol(rawValue: String(parts[0])),
                  let listen = SocketAddress(parsing: String(parts[1])) else {
                throw .malformed("cannot read the line \"\(line.prefix(80))\"")
            }
            sockets.append(HandedSocket(proto: proto, listen: listen))
        }
        guard sockets.count == descriptors else { throw .countMismatch(lines: sockets.count, descriptors: descriptors) }
        return sockets
    }

    /// Throws unless `fd` is a socket of `socket`'s protocol (TCP: listening), bound to its address.
    static func check(_ fd: Int32, is socket: HandedSocket) throws(Failure) {
        func option(_ name: Int32) -> Int32? { Sockets.option(fd, SOL_SOCKET, name, as: Int32(0)) }
        guard let type = option(SO_TYPE) else { throw .wrongSocket(socket, "not a socket (errno \(errno))") }
        switch socket.proto {
        case .tcp:
            guard type == Int32(SOCK_STREAM.rawValue), option(SO_ACCEPTCONN) == 1 else { throw .wrongSocket(socket, "not a listening stream socket") }
        case .udp:
            guard type == Int32(SOCK_DGRAM.rawValue) else { throw .wrongSocket(socket, "not a datagram socket") }
        }
        guard let bound = boundAddress(fd) else { throw .wrongSocket(socket, "not bound to an IP address") }
        guard bound.ip == socket.listen.ip, bound.port == socket.listen.port else {
            throw .wrongSocket(socket, "it is bound to \(bound)")
        }
    }

    /// The handed socket's bound address (getsockname), nil if it cannot be told.
    private static func boundAddress(_ fd: Int32) -> SocketAddress? { try? Sockets.localAddress(fd) }
}
