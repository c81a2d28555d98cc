#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SavedState
import SystemErrno

/// The new relay's side of `TakeoverEndpoint` (`relay --replace`).
enum TakeoverClient {
    enum Failure: Error, CustomStringConvertible {
        case failed(String)
        var description: String { switch self { case .failed(let why): return "taking over from the running relay failed: \(why)" } }
    }

    /// Sockets received from the running relay, each checked against its manifest line; the
    /// old relay keeps serving until `confirm()`. Whoever holds it must `confirm()` or `abandon()`.
    final class Taken {
        let sockets: [(HandedSocket, Int32)]
        private var peer: Int32
        init(sockets: [(HandedSocket, Int32)], peer: Int32) { self.sockets = sockets; self.peer = peer }

        /// Tells the old relay every socket is adopted: it stops accepting and drains.
        func confirm() throws(Failure) {
            defer { Posix.close(peer); peer = -1 }
            do { try DescriptorPassing.send([], payload: TakeoverEndpoint.adopted, over: peer) } catch { throw .failed("\(error)") }
        }

        /// Closes the connection without confirming (the descriptors are the caller's now): the
        /// old relay serves on, unchanged.
        func disconnect() {
            if peer >= 0 { Posix.close(peer); peer = -1 }
        }

        /// Closes our copies and the connection: the old relay serves on, unchanged.
        func abandon() {
            for (_, fd) in sockets { Posix.close(fd) }
            if peer >= 0 { Posix.close(peer); peer = -1 }
        }
    }

    /// Asks the relay serving `table` here for its sockets; nil when none runs (no endpoint, or
    /// nobody listening on it).
    static func take(table: String, drainSeconds: Int = 60, directory: String = RuntimeDirectory.path) throws(Failure) -> Taken? {
        if case .missing = RuntimeDirectory.check(directory) { return nil }
        guard case .trusted = RuntimeDirectory.check(directory) else { throw .failed("\(directory) is not root's alone") }
        let path: String
        do { path = try TakeoverEndpoint.path(table: table, directory: directory) } catch { throw .failed("\(error)") }
        guard Sockets.fitsUnixAddress(path) else { throw .failed("\(path): too long for a unix socket") }
        let peer: Int32
        do {
            peer = try Sockets.open(domain: AF_UNIX, type: Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        } catch {
            throw .failed("socket: \(error.errno)")
        }
        TakeoverEndpoint.setTimeout(peer, seconds: 5)
        do {
            try Sockets.connect(peer, unixPath: path)
        } catch {
            Posix.close(peer)
            if error.errno == .noEntry || error.errno == .connectionRefused { return nil }
            throw .failed("connect \(path): \(error.errno)")
        }
        guard StatusChannel.peerUID(peer) == 0 else { Posix.close(peer); throw .failed("\(path) is held by a process that is not root's") }
        var received: [(HandedSocket, Int32)] = []
        func fail(_ why: String) -> Failure {
            for (_, fd) in received { Posix.close(fd) }
            Posix.close(peer)
            return .failed(why)
        }
        do { try DescriptorPassing.send([], payload: TakeoverEndpoint.request(drainSeconds: drainSeconds), over: peer) } catch { throw fail("\(error)") }
        while true {
            let message: (payload: [UInt8], fds: [Int32])
            do {
                message = try DescriptorPassing.receive(over: peer, maxPayload: TakeoverEndpoint.maxMessage, maxDescriptors: DescriptorPassing.maxPerMessage)
            } catch { throw fail("\(error)") }
            if message.payload == TakeoverEndpoint.done && message.fds.isEmpty { break }
            do {
                let names = try TakeoverManifest.decode(message.payload, descriptors: message.fds.count)
                for (name, fd) in zip(names, message.fds) { try TakeoverManifest.check(fd, is: name) }
                received += zip(names, message.fds).map { ($0, $1) }
            } catch {
                for fd in message.fds { Posix.close(fd) }
                throw fail("\(error)")
            }
        }
        return Taken(sockets: received, peer: peer)
    }
}
