#if canImport(Glibc)
import Glibc
#endif
import NFTRelay
import Testing
import NetworkAddress

/// A target that sends zeros to every client as fast as it can (a `/dev/zero` stream) until
/// the client goes away or `stop()`.
final class ZeroServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let stopping = Shared(false)
    private var thread: TestThread?

    init() {
        (listener, port) = TestSocket.listen()
        let listener = self.listener, stopping = self.stopping
        thread = TestThread {
            let fd = TestSocket.accept(listener)
            guard fd >= 0 else { return }
            let discard = Sink(fd)
            defer { discard.stop() }
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            while !stopping.get() {
                let n = zeros.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 && errno != EINTR && errno != EAGAIN { break }
            }
            close(fd)
        }
    }

    func stop() {
        stopping.set(true)
        shutdown(listener, Int32(SHUT_RDWR))   // unblocks an accept that never came
        thread?.join()
        thread = nil
        close(listener)
    }
}

/// Reads and discards from `fd` until EOF/error or `stop`; counts the bytes.
final class Sink: @unchecked Sendable {
    let received = Shared(0)
    private let stopping = Shared(false)
    private var thread: TestThread?

    init(_ fd: Int32) {
        let received = self.received, stopping = self.stopping
        thread = TestThread {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while !stopping.get() {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { received.update { $0 += n } } else if n == 0 || errno != EINTR && errno != EAGAIN { break }
            }
        }
    }

    func stop() {
        stopping.set(true)
        thread?.join()
        thread = nil
    }
}

/// Puts the calling thread at nice -20 (root only; elsewhere it stays as it was), so that
/// a latency measurement is not decided by other processes on a busy machine.
func raisePriority(to nice: Int32 = -20) {
    // The thread id, from /proc/thread-self -> "PID/task/TID" (Glibc's gettid is not imported).
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    guard n > 0, let tid = cText(Array(buffer[0..<n]) + [0]).split(separator: "/").last.flatMap({ id_t($0) }) else { return }
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, nice)
}

/// Collects a relay engine's events.
final class EventLog: Sendable {
    private let events = Shared<[RelayEvent]>([])
    var sink: RelayEventSink { { [events] event in events.update { $0.append(event) } } }
    var all: [RelayEvent] { events.get() }
}

/// The local fds of this process that are TCP sockets connected to `peerPort` on loopback.
func tcpSockets(connectedToPort peerPort: UInt16) -> [Int32] {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    defer { closedir(dir) }
    var found: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name) else { continue }
        var type: Int32 = 0
        var length = socklen_t(4)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else { continue }
        var storage = sockaddr_storage()
        var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &size) } }
        guard rc == 0, let text = SocketAddressText(storage), text.hasSuffix(":\(peerPort)") else { continue }
        found.append(fd)
    }
    return found
}

func intOption(_ fd: Int32, _ level: Int32, _ name: Int32) -> Int32 {
    var value: Int32 = -1
    var length = socklen_t(4)
    getsockopt(fd, level, name, &value, &length)
    return value
}
