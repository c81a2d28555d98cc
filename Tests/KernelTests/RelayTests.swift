import Testing
import TestSupport
import PortForwarding
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd relay` in the host namespace: loopback and IPv6-to-IPv4 traffic through userland,
/// everything else still through the kernel's DNAT.
@Suite("Kernel: nftfwd relay", .kernelTest)
struct RelayTests {
    /// Starts `nftfwd relay` in the host namespace and waits until its status socket answers.
    static func startRelay(_ lab: Lab, table: String = "nftfwd", _ extra: String...) throws -> pid_t {
        let log = relayLog(lab, table: table)
        let pid = try #require(lab.net.background(lab.host, [nftfwdBinary, "relay", "--table", table] + extra, log: log))
        let up = TestNetwork.waitUntil(timeout: 10) {
            (try? inNamespace(lab.host) { StatusChannel.query(table: table) }) != nil
        }
        #expect(up, "relay did not answer on its status socket in 10 s")
        return pid
    }

    static func relayLog(_ lab: Lab, table: String = "nftfwd") -> String { "/tmp/\(lab.net.prefix)-relay-\(table).log" }

    static func status(_ lab: Lab, table: String = "nftfwd") -> RelayStatus? {
        (try? inNamespace(lab.host) { StatusChannel.query(table: table) }) ?? nil
    }

    @Test("loopback clients reach the target through the relay; other hosts go through DNAT, not the relay")
    func loopbackThroughRelay() throws {
        let lab = try Lab("rly")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "[::]:8080", "198.18.2.2:80")              // IPv6 clients, IPv4 target
        let relay = try Self.startRelay(lab)
        #expect(TestNetwork.waitUntil(timeout: 5) { Self.status(lab)?.ports.count == 3 })

        // From the host itself, over loopback: the relay carries it (the target sees the host).
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "tcp", "::1", 8080) == "tcp 80 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 8080) == "udp 80 from 198.18.2.1")
        let before = try #require(Self.status(lab)?.summaries()["8080/tcp -> 198.18.2.2:80"])
        #expect(before.total == 1)

        // From another host: the kernel's DNAT (the client's own address reaches the target),
        // and the relay's counter for that mapping does not move.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "tcp 80 from 198.18.1.2")
        #expect(Self.status(lab)?.summaries()["8080/tcp -> 198.18.2.2:80"]?.total == 1)
        // IPv6 from another host to an IPv4 target: only the relay can, and does.
        #expect(lab.ask(from: lab.client, "tcp", "2001:db8:1::1", 8080) == "tcp 80 from 198.18.2.1")

        // ls shows the relay's side.
        // ls shows both sides: one connection through the kernel, one through the relay, for
        // the same mapping; the IPv6 one is the relay's alone.
        let listed = try lab.nftfwdOK("ls").stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        // The kernel counters count the loopback connection too: the loopback chain looks the
        // port up in the same map (relay or not), and a lookup counts on the element it finds.
        #expect(listed.contains("tcp ipv4 8080 198.18.2.2:80 dnat 2 120 listening 0/1"))
        #expect(listed.contains("tcp ipv6 [::]:8080 198.18.2.2:80 relay-only 0 0 listening 0/2"))

        // SIGHUP re-reads the table; it does not stop the relay.
        kill(relay, SIGHUP)
        #expect(Command.wait(pid: relay, timeout: 0.5) == nil)
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 198.18.2.1")

        kill(relay, SIGTERM)
        #expect(Command.wait(pid: relay, timeout: 10) == 0)
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "ERROR ConnectionRefusedError")
        #expect(try lab.nftfwdOK("ls").stdout.contains("not running"))
    }

    // The relay polls every 200 ms; the bounds are 3 s because each ask starts a python client,
    // which alone took over a second on a loaded 2-core machine.
    @Test("a mapping added while the relay runs is served within seconds; removing it stops it")
    func followsTheTable() throws {
        let lab = try Lab("fol")
        defer { lab.destroy() }
        _ = try Self.startRelay(lab)
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:9001")
        let added = Command.monotonicSeconds()
        #expect(TestNetwork.waitUntil(timeout: 3) {
            lab.ask(from: lab.host, "tcp", "127.0.0.1", 8081) == "tcp 9001 from 198.18.2.1"
        })
        #expect(Command.monotonicSeconds() - added < 3.0)

        // Another target on the same port: the relay re-binds it at once (no busy-port error).
        try lab.nftfwdOK("rm", "127.0.0.1:8081")
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:9002")
        #expect(TestNetwork.waitUntil(timeout: 3) {
            lab.ask(from: lab.host, "tcp", "127.0.0.1", 8081) == "tcp 9002 from 198.18.2.1"
        })
        #expect(Self.status(lab)?.ports.map(\.state) == ["listening"])

        try lab.nftfwdOK("rm", "127.0.0.1:8081")
        #expect(TestNetwork.waitUntil(timeout: 3) {
            lab.ask(from: lab.host, "tcp", "127.0.0.1", 8081) == "ERROR ConnectionRefusedError"
        })
    }

    // UDP ports have a socket each in either mode (a TCP one is not bound with
    // --loopback-redirect), so a busy one is reported and retried.
    @Test("a port that cannot be bound is reported and retried; the others are served")
    func busyPort() throws {
        let lab = try Lab("busy")
        defer { lab.destroy() }
        // Something else holds 127.0.0.1:7070/udp.
        let blocker = try #require(lab.net.background(lab.host, ["python3", "-c",
            "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1',7070)); time.sleep(60)"]))
        #expect(TestNetwork.waitUntil(timeout: 10) {
            (try? lab.net.exec(lab.host, ["ss", "-lunH", "sport = :7070"]).stdout.isEmpty == false) ?? false
        })
        try lab.nftfwdOK("add", "127.0.0.1:7070", "198.18.2.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "127.0.0.1:7071", "198.18.2.2:80", "--proto", "udp")
        try lab.nftfwdOK("add", "127.0.0.1:7070", "198.18.2.2:80")   // TCP: the UDP blocker is no matter
        _ = try Self.startRelay(lab)
        #expect(TestNetwork.waitUntil(timeout: 5) {
            Self.status(lab)?.summaries()["127.0.0.1:7070/udp -> 198.18.2.2:80"]?.state.contains("bind: address already in use") == true
        })
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 7071) == "udp 80 from 198.18.2.1")
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 7070) == "tcp 80 from 198.18.2.1")
        #expect(try lab.nftfwdOK("ls").stdout.contains("127.0.0.1:7070/udp error: bind: address already in use"))

        kill(blocker, SIGKILL)
        _ = Command.wait(pid: blocker, timeout: 5)
        #expect(TestNetwork.waitUntil(timeout: 5) {
            Self.status(lab)?.summaries()["127.0.0.1:7070/udp -> 198.18.2.2:80"]?.state == "listening"
        })
        #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", 7070) == "udp 80 from 198.18.2.1")
    }

    @Test("relays in several namespaces run side by side; a second one in the same namespace is refused")
    func sideBySide() throws {
        let a = try Lab(hostOnly: "sa"), b = try Lab(hostOnly: "sb")
        defer { a.destroy(); b.destroy() }
        try a.nftfwdOK("add", "127.0.0.1:6000", "127.0.0.1:1")
        try b.nftfwdOK("add", "127.0.0.1:6001", "127.0.0.1:1")
        _ = try Self.startRelay(a)
        _ = try Self.startRelay(b)
        #expect(TestNetwork.waitUntil(timeout: 5) {
            Self.status(a)?.ports.map(\.listen) == ["127.0.0.1:6000/tcp"] && Self.status(b)?.ports.map(\.listen) == ["127.0.0.1:6001/tcp"]
        })
        let second = a.net.run(a.host, [nftfwdBinary, "relay"], timeout: 10)
        #expect(second.status == 2)
        #expect(second.stderr.contains("a relay for table nftfwd already runs in this network namespace"))
    }
}
