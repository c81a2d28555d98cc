import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd relay --replace` under load (issue 12): a new connection every 5 ms, a slow 8 MiB
/// transfer and a UDP client on a fixed source port run while a second relay takes over; none
/// is refused or reset, the transfer is byte-exact, the UDP client gets every answer and the
/// target sees it as one peer throughout (its flow's socket is handed over), the old relay
/// exits 0 after draining and the new one serves (and `ls` names it); the same with the
/// loopback redirect, whose sockets are handed over too. Clients on the host's loopback, the
/// target in its own namespace (`Lab`).
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

    /// Where the echo target writes each UDP peer it sees, one line each.
    static func peers(_ lab: Lab) -> String { "/tmp/\(lab.net.prefix)-echo-peers" }

    /// The lab with an echo target on 198.18.2.2:9100 (TCP and UDP), published on the host's
    /// 127.0.0.1:8080/tcp and 127.0.0.1:8053/udp, and a relay serving both.
    static func setUp(_ label: String, _ relayOptions: String...) throws -> (Lab, pid_t) {
        let lab = try Lab(label)
        let ready = "/tmp/\(lab.net.prefix)-echo-ready"
        unlink(ready)
        unlink(peers(lab))
        lab.net.background(lab.target, ["python3", script, "echo", "9100", ready, peers(lab)])
        #expect(TestNetwork.waitUntil(timeout: 15) { access(ready, F_OK) == 0 }, "echo target not ready")
        unlink(ready)
        try lab.nftfwdOK("add", "127.0.0.1:8080", "198.18.2.2:9100")
        try lab.nftfwdOK("add", "127.0.0.1:8053", "198.18.2.2:9100", "--proto", "udp")
        let old: pid_t
        if relayOptions.first == "--restore-from" {
            try lab.nftfwdOK("save", relayOptions[1])
            old = try RelayTests.startRelay(lab, "--restore-from", relayOptions[1])
        } else if relayOptions.first == "--loopback-redirect" {
            old = try RelayTests.startRelay(lab, "--loopback-redirect")
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
        let (new, newLog, result, value) = try Self.replaceUnderLoad(lab, old: old, ["--drain-timeout", "20"] + (restoring ? ["--restore-from", saved] : []))
        defer { kill(new, SIGTERM); _ = Command.wait(pid: new, timeout: 10) }
        #expect(value("errors") == "0", "\(result)")
        #expect(value("exact") == "True", "\(result)")
        #expect((Int(value("conns") ?? "") ?? 0) > 100, "\(result)")
        // Every request answered (each waits up to 1 s), through one flow: the new relay
        // adopted the old one's socket towards the target, so the target saw one peer.
        #expect((Int(value("udp_sent") ?? "") ?? 0) > 50, "\(result)")
        #expect(value("udp_lost") == "0", "\(result)")
        let peers = Self.file(Self.peers(lab)).split(separator: "\n")
        #expect(peers.count == 1, "the target saw the UDP client as \(peers); new relay: \(Self.file(newLog))")
        #expect(Self.file(newLog).contains("and 1 UDP flow(s) from the relay"), "\(Self.file(newLog))")

        // The new relay serves, and the status socket (what ls reads) is its own.
        #expect(TestNetwork.waitUntil(timeout: 10) { RelayTests.status(lab)?.pid == Int(new) }, "\(Self.file(newLog))")
        #expect(Command.wait(pid: new, timeout: 0.2) == nil)
        #expect(try lab.nftfwdOK("ls").stdout.contains("listening"))
        if restoring {   // and keeps the table equal to the file: a flush is put back
            try lab.net.exec(lab.host, ["nft", "delete", "table", "inet", "nftfwd"])
            #expect(TestNetwork.waitUntil(timeout: 10) { (try? lab.table()) != nil }, "\(Self.file(newLog))")
        }
    }

    /// Runs the load (new TCP connections, a slow transfer, a UDP client sending from the fixed
    /// port 40053) while `nftfwd relay --replace ARGUMENTS` takes over from `old`; returns once
    /// the old relay and the load ended (checking the old relay exited 0), with the new relay's
    /// pid and log, the load's result line and its fields by name. The new relay is the caller's
    /// to stop.
    static func replaceUnderLoad(_ lab: Lab, old: pid_t, _ arguments: [String]) throws
        -> (new: pid_t, newLog: String, result: String, value: (String) -> String?) {
        let started = "/tmp/\(lab.net.prefix)-load-started"
        let loadLog = "/tmp/\(lab.net.prefix)-load.log"
        unlink(started)
        let load = try #require(lab.net.background(lab.host, ["python3", script, "load", "127.0.0.1", "8080", "8053", started, "40053"], log: loadLog))
        #expect(TestNetwork.waitUntil(timeout: 10) { access(started, F_OK) == 0 }, "the load did not start")
        let newLog = RelayTests.relayLog(lab, table: "nftfwd-new")
        let new = try #require(lab.net.background(lab.host, [nftfwdBinary, "relay", "--replace"] + arguments, log: newLog))
        #expect(Command.wait(pid: old, timeout: 30) == 0, "the old relay did not exit 0 after draining: \(file(RelayTests.relayLog(lab)))")
        #expect(Command.wait(pid: load, timeout: 30) == 0)
        let result = file(loadLog)
        let fields = result.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) } ?? []
        let value = { (name: String) -> String? in fields.firstIndex(of: name).flatMap { $0 + 1 < fields.count ? fields[$0 + 1] : nil } }
        return (new, newLog, result, value)
    }

    /// The redirect's element in `map` (its text, e.g. "tcp : 41234"), or "" when there is none.
    static func redirectElement(_ lab: Lab, _ map: String) -> String {
        let listed = (try? lab.net.exec(lab.host, ["nft", "list", "map", "inet", "nftfwd", map]).stdout) ?? ""
        // One line: "\t\telements = { tcp : 41234 }".
        let prefix = "elements = { ", suffix = " }"
        for line in listed.split(separator: "\n") {
            let text = line.drop { $0 == "\t" || $0 == " " }
            if text.hasPrefix(prefix) && text.hasSuffix(suffix) { return String(text.dropFirst(prefix.count).dropLast(suffix.count)) }
        }
        return ""
    }

    @Test("with --loopback-redirect: the redirect sockets are handed over (same ports, still in the table), loopback TCP clients never refused, the UDP client's flow carried on")
    func redirectHandedOver() throws {
        let (lab, old) = try Self.setUp("tkl", "--loopback-redirect")
        defer { lab.destroy() }
        // Both ports are served through the redirect (no socket of their own).
        #expect(TestNetwork.waitUntil(timeout: 5) { !Self.redirectElement(lab, "redirect4").isEmpty })
        let before4 = Self.redirectElement(lab, "redirect4"), before6 = Self.redirectElement(lab, "redirect6")
        #expect(before4.hasPrefix("tcp : ") && before6.hasPrefix("tcp : "), "\(before4) \(before6)")
        #expect(before4.contains(", udp : ") && before6.contains(", udp : "), "\(before4) \(before6)")
        let (new, newLog, result, value) = try Self.replaceUnderLoad(lab, old: old, ["--loopback-redirect", "--drain-timeout", "20"])
        defer { kill(new, SIGTERM); _ = Command.wait(pid: new, timeout: 10) }
        #expect(value("errors") == "0", "\(result)")
        #expect(value("exact") == "True", "\(result)")
        #expect((Int(value("conns") ?? "") ?? 0) > 100, "\(result)")
        #expect(value("udp_lost") == "0", "\(result)")
        #expect((Int(value("udp_sent") ?? "") ?? 0) > 50, "\(result)")
        #expect(Self.file(newLog).contains("(taken over)"), "\(Self.file(newLog))")
        // The redirected UDP client's flow went along (its socket towards the target): one peer.
        let peers = Self.file(Self.peers(lab)).split(separator: "\n")
        #expect(peers.count == 1, "the target saw the UDP client as \(peers); new relay: \(Self.file(newLog))")
        #expect(Self.file(newLog).contains("and 1 UDP flow(s) from the relay"), "\(Self.file(newLog))")

        // The same redirect ports, still in the table after the old relay left (it no longer
        // takes them out), served by the new relay: a fresh loopback client is answered.
        #expect(Self.redirectElement(lab, "redirect4") == before4)
        #expect(Self.redirectElement(lab, "redirect6") == before6)
        #expect(TestNetwork.waitUntil(timeout: 10) { RelayTests.status(lab)?.pid == Int(new) }, "\(Self.file(newLog))")
        let echo = try lab.net.exec(lab.host, ["python3", "-c", "import socket; c=socket.create_connection(('127.0.0.1',8080),timeout=5); c.sendall(b'ok'); print(c.recv(8).decode())"])
        #expect(echo.stdout.hasPrefix("ok"))
        #expect(Command.wait(pid: new, timeout: 0.2) == nil)
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
