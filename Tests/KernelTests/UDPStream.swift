import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `netpeer.py stream` running in a namespace: one datagram every `intervalMs` from a fixed
/// source port, each send and each answer (with the number it echoes) logged.
final class UDPStream {
    let log: String
    let count: Int

    init(_ net: TestNetwork, _ namespace: String, to address: String, _ port: Int, from sourcePort: Int, count: Int, intervalMs: Int) throws {
        log = "/tmp/\(net.prefix)-stream-\(sourcePort).log"
        self.count = count
        unlink(log)
        guard net.background(namespace, ["python3", netpeer, "stream", address, "\(port)", "\(sourcePort)", "\(count)", "\(intervalMs)"], log: log) != nil else {
            throw NamespaceError(description: "cannot start netpeer.py stream")
        }
    }

    private var lines: [Substring] {
        let fd = open(log, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    /// Answers in arrival order: the datagram's number, the answer ("udp 9000 from 192.168.90.2
    /// at c1"), and who gave it: the peer's name after "at", else its port.
    var answers: [(seq: Int, text: String, by: String)] {
        lines.compactMap { line in
            let words = line.split(separator: " ")
            guard words.count >= 5, let seq = Int(words[0]), words[1] == "udp" else { return nil }
            let by = words.count >= 7 && words[5] == "at" ? words[6] : words[2]
            return (seq, words.dropFirst().joined(separator: " "), String(by))
        }
    }

    var strays: [Substring] { lines.filter { $0.hasPrefix("stray") } }
    /// How many datagrams the stream has sent so far.
    var sent: Int { lines.filter { $0.hasPrefix("sent ") }.count }
    var isDone: Bool { lines.last == "done" }

    /// The numbers of the datagrams nobody answered.
    var lost: [Int] {
        let answered = Set(answers.map(\.seq))
        return (0..<count).filter { !answered.contains($0) }
    }

    func remove() { unlink(log) }
}
