import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd relay --replace` under load (issue 12): a new connection every 5 ms, a slow 8 MiB
/// transfer and a UDP client on a fixed source port run while a second relay takes over; none
/// is refused or reset, the transfer is byte-exact, the UDP client keeps its answers, the old
/// relay exits 0 after draining and the new one serves (and `ls` names it). Clients on the
/// host's loopback, the target in its own namespace (`Lab`).
@Suite("Kernel: nftfwd relay --replace", .kernelTest, .serialized)
struct TakeoverTests {
    static let script = repositoryRoot + "/contrib/testing/takeover.py"

    static func file(_ path: String) -> String {
        guard let f = fopen(path, "r") else { return "" }
        defer { fclose(f) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lab with an echo target on 198.18.2.2:9100 (TCP and UDP), published on the host's
    /// 127.0.0.1:8080/tcp and 127.0.0.1:8053/udp, and a relay serving both.
    static func setUp(_ label: String, _ relayOptions: String...) throws -> (Lab, pid_t) {
        let lab = try Lab(label)
        let ready = "/tmp/\(lab.net.prefix)-echo-ready"
        unlink(ready)
        lab.net.background(lab.target, ["python3", script, "echo", "9100", ready])
        #expect(TestNetwork.waitUntil(timeout: 15) { access(ready, F_OK) == 0 }, "echo target not ready")
        unlink(ready)
        try lab.nftfwdOK("add", "127.0.0.1:8080", "198.18.2.2:9100")
        try lab.nftfwdOK("add", "127.0.0.1:8053", "198.18.2.2:9100", "--proto", "udp")
        let old: pid_t
        if relayOptions.first == "--restore-from" {
            try lab.nftfwdOK("save", relayOptions[1])
            old = try RelayTests.startRelay(lab, "--restore-from", relayOptions[1])
        } else {
            old = try RelayTests.startRelay(lab)
        }
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.filter { $0.state == .listening }.count == 2 })
        return (lab, old)
    }

    @Test("under load: nothing refused or reset, the transfer byte-exact, UDP answered, the old relay exits 0, the new one serves",
          arguments: [false, true])
    func takeoverUnderLoad(restoring: Bool) throws {
        let saved = "/tmp/nftfwd-takeover-\(getpid())-saved.json"
        defer { unlink(saved) }
        let (lab, old) = restoring ? try Self.setUp("tkr", "--restore-from", saved) : try Self.setUp("tko")
        defer { lab.destroy() }
        let started = "/tmp/\(lab.net.prefix)-load-started"
        let loadLog = "/tmp/\(lab.net.prefix)-load.log"
        unlink(started)
        let load = try #require(lab.net.background(lab.host, ["python3", Self.script, "load", "127.0.0.1", "8080", "8053", started], log: loadLog))
        #expect(TestNetwork.waitUntil(timeout: 10) { access(started, F_OK) == 0 }, "the load did not start")
        let newLog = RelayTests.relayLog(lab, table: "nftfwd-new")
        let new = try #require(lab.net.background(lab.host, [nftfwdBinary, "relay", "--replace", "--drain-timeout", "20"] + (restoring ? ["--restore-from", saved] : []), log: newLog))
        defer { kill(new, SIGTERM); _ = Command.wait(pid: new, timeout: 10) }

        #expect(Command.wait(pid: old, timeout: 30) == 0, "the old relay did not exit 0 after draining: \(Self.file(RelayTests.relayLog(lab)))")
        #expect(Command.wait(pid: load, timeout: 30) == 0)
        let result = Self.file(loadLog)
        let fields = result.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) } ?? []
        func value(_ name: String) -> String? { fields.firstIndex(of: name).flatMap { $0 + 1 < fields.count ? fields[$0 + 1] : nil } }
        #expect(value("errors") == "0", "\(result)")
        #expect(value("exact") == "True", "\(result)")
        #expect((Int(value("conns") ?? "") ?? 0) > 100, "\(result)")
        // A datagram in flight at the very switch may go unanswered (the old relay's flow ends
        // there); the client keeps getting answers: at most 2 lost, none in the last second.
        #expect((Int(value("udp_lost") ?? "") ?? 99) <= 2, "\(result)")
        #expect(value("udp_lost_last_second") == "0", "\(result)")

        // The new relay serves, and the status socket (what ls reads) is its own.
        #expect(TestNetwork.waitUntil(timeout: 10) { RelayTests.status(lab)?.pid == Int(new) }, "\(Self.file(newLog))")
        #expect(Command.wait(pid: new, timeout: 0.2) == nil)
        #expect(try lab.nftfwdOK("ls").stdout.contains("listening"))
        if restoring {   // and keeps the table equal to the file: a flush is put back
            try lab.net.exec(lab.host, ["nft", "delete", "table", "inet", "nftfwd"])
            #expect(TestNetwork.waitUntil(timeout: 10) { (try? lab.table()) != nil }, "\(Self.file(newLog))")
        }
    }

    @Test("a --replace with a bad option leaves the running relay serving")
    func badOption() throws {
        let (lab, old) = try Self.setUp("tkb")
        defer { lab.destroy(); kill(old, SIGTERM); _ = Command.wait(pid: old, timeout: 10) }
        let result = lab.nftfwd("relay", "--replace", "--drain-timeout", "-1")
        #expect(result.status != 0)
        #expect(result.stderr.contains("--drain-timeout"))
        #expect(Command.wait(pid: old, timeout: 0.5) == nil)
        #expect(RelayTests.status(lab)?.pid == Int(old))
        let echo = try lab.net.exec(lab.host, ["python3", "-c", "import socket; c=socket.create_connection(('127.0.0.1',8080),timeout=5); c.sendall(b'ok'); print(c.recv(8).decode())"])
        #expect(echo.stdout.hasPrefix("ok"))
    }
}
