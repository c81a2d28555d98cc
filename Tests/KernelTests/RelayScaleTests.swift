import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// The relay's cost does not grow with the number of published ports: loopback TCP and UDP
/// clients of 60,000-port ranges reach the relay through the table's redirect, not a socket
/// per port.
@Suite("Kernel: relay at scale (loopback redirect)", .kernelTest, .serialized)
struct RelayScaleTests {
    static func descriptors(_ pid: pid_t) -> Int {
        guard let dir = opendir("/proc/\(pid)/fd") else { return -1 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) { if entry.pointee.d_name.0 != 46 { n += 1 } }   // not "." or ".."
        return n
    }

    static func rss(_ pid: pid_t) -> String {
        let text = (try? Command.run(["/bin/sh", "-c", "grep VmRSS /proc/\(pid)/status"], timeout: 5).stdout) ?? ""
        return text.split(separator: ":").last.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ") } ?? "?"
    }

    @Test("60,000-port tcp and udp ranges over 127.0.0.1 and [::1]: first, middle and last port reach the target; a few descriptors; route_localnet stays 0")
    func sixtyThousandPorts() throws {
        let lab = try Lab("rsc", targetPorts: "1000,31000,60999")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "1000-60999", "198.18.2.2:1000-60999")
        try lab.nftfwdOK("add", "[::]:1000-60999", "[2001:db8:2::2]:1000-60999")
        try lab.nftfwdOK("add", "1000-60999", "198.18.2.2:1000-60999", "--proto", "udp")
        try lab.nftfwdOK("add", "[::]:1000-60999", "[2001:db8:2::2]:1000-60999", "--proto", "udp")
        let started = Command.monotonicSeconds()
        let relay = try RelayTests.startRelay(lab, "--loopback-redirect")
        #expect(TestNetwork.waitUntil(timeout: 30) { RelayTests.status(lab)?.summaries().count == 4 })
        let ready = Command.monotonicSeconds() - started

        for port in [1000, 31000, 60999] {
            #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", port) == "tcp \(port) from 198.18.2.1")
            #expect(lab.ask(from: lab.host, "tcp", "::1", port) == "tcp \(port) from 2001:db8:2::1")
            #expect(lab.ask(from: lab.host, "udp", "127.0.0.1", port) == "udp \(port) from 198.18.2.1")
            #expect(lab.ask(from: lab.host, "udp", "::1", port) == "udp \(port) from 2001:db8:2::1")
        }
        // A port of the range nobody serves on the target: the relay resets the client after
        // the target refuses, it does not hang.
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 2000).hasPrefix("ERROR"))

        let fds = Self.descriptors(relay)
        print("relay-scale: 60,000 ports x 2 families x tcp and udp: \(fds) descriptors, RSS \(Self.rss(relay)), status complete after \(ready) s (debug build)")
        #expect(fds > 0 && fds <= 100, "the relay holds \(fds) descriptors for 240,000 redirected ports")
        let summary = try #require(RelayTests.status(lab)?.summaries()["1000-60999/tcp -> 198.18.2.2:1000-60999"])
        #expect(summary.total == 4)   // three answered, one refused by the target: each counted on its mapping
        #expect(RelayTests.status(lab)?.summaries()["1000-60999/udp -> 198.18.2.2:1000-60999"]?.total == 3)
        let localnet = try lab.net.exec(lab.host, ["sysctl", "-n", "net.ipv4.conf.all.route_localnet", "net.ipv4.conf.lo.route_localnet"]).stdout
        #expect(localnet.split(separator: "\n") == ["0", "0"])
        // The table reads back through nft, the redirect with it.
        let table = try lab.table()
        #expect(table.contains("chain loopback"))
        #expect(table.contains("redirect to :meta l4proto map @redirect4"))

        kill(relay, SIGTERM)
        #expect(Command.wait(pid: relay, timeout: 10) == 0)
        // Stopped: its ports are out of the maps, so nothing is redirected to a closed socket.
        #expect(!(try lab.table()).contains("tcp : "))
        #expect(!(try lab.table()).contains("udp : "))
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 1000) == "ERROR ConnectionRefusedError")
    }
}
