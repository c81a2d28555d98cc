import Testing
import TestSupport
import NFTables
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd doctor` and the warnings of `add`/`ls`: each check made to fire in a namespace the
/// test creates, then made to pass.
@Suite("Kernel: doctor and forwarding hints", .kernelTest)
struct DoctorTests {
    /// Doctor's JSON: its exit status, overall status, and each finding as (check, status, message).
    struct Report {
        var exit: Int32
        var ok: Bool
        var status: String
        var findings: [(check: String, status: String, message: String, fix: String?)]

        /// The statuses of one check's findings.
        func statuses(_ check: String) -> [String] { findings.filter { $0.check == check }.map(\.status) }
        func messages(_ check: String) -> [String] { findings.filter { $0.check == check }.map(\.message) }
    }

    static func doctor(_ lab: Lab, _ extra: String...) throws -> Report {
        let result = lab.net.run(lab.host, [nftfwdBinary, "doctor", "--json", "--probe-timeout", "500"] + extra)
        let json = try JSON.parse(result.stdout)
        guard case .bool(let ok)? = json["ok"], case .string(let status)? = json["status"],
              case .array(let checks)? = json["checks"] else {
            throw NamespaceError(description: "unexpected doctor output: \(result)")
        }
        return Report(exit: result.status, ok: ok, status: status, findings: checks.map { c in
            var fix: String?
            if case .string(let f)? = c["fix"] { fix = f }
            guard case .string(let check)? = c["check"], case .string(let status)? = c["status"],
                  case .string(let message)? = c["message"] else { return ("?", "?", "\(c)", nil) }
            return (check, status, message, fix)
        })
    }

    /// Routes to the targets these tests publish (a veth pair inside the host: no dummy
    /// module here), so that the only
    /// warnings are those each test is about (a target no route leads to is warned too).
    static func routeTargets(_ lab: Lab) throws {
        try lab.net.sh(lab.host, """
            ip link add tgt0 type veth peer name tgt1 && ip link set tgt1 up && ip link set tgt0 up && \
            ip addr add 198.18.2.1/24 dev tgt0 && ip route add 198.18.3.0/24 dev tgt0 && \
            ip -6 addr add 2001:db8:2::1/64 dev tgt0 nodad
            """)
    }

    @Test("a fresh namespace: every check OK, exit 0, the JSON shape, and the trial batch changes nothing")
    func clean() throws {
        let lab = try Lab(hostOnly: "dcln")
        defer { lab.destroy() }
        let generation = try inNamespace(lab.host) { try NFTables().generation() }
        let report = try Self.doctor(lab)
        #expect(report.exit == 0)
        #expect(report.ok && report.status == "ok")
        #expect(report.findings.map(\.check) == ["nat-support", "table", "ipv4-forwarding", "ipv6-forwarding",
                                                 "forward-drop", "route-localnet", "relay", "targets", "target-route", "hairpin"])
        #expect(report.findings.allSatisfy { $0.status == "ok" && $0.fix == nil })
        // nat-support sent nftfwd's whole table to the kernel, which rolled it back.
        #expect(report.messages("nat-support") == ["the kernel accepts nftfwd's table (nf_tables with nat, fib, maps, interval sets and conntrack labels), checked without changing anything"])
        #expect(try lab.ruleset() == "")
        #expect(try inNamespace(lab.host) { try NFTables().generation() } == generation)

        // The key order of the JSON, pinned.
        let raw = lab.net.run(lab.host, [nftfwdBinary, "doctor", "--json"]).stdout
        #expect(raw.hasPrefix("{\n  \"ok\": true,\n  \"status\": \"ok\",\n  \"checks\": [\n    {\n      \"check\": \"nat-support\",\n      \"status\": \"ok\",\n      \"message\": "))
        #expect(raw.contains("\"fix\": null"))
        // The text form: one line per finding.
        let text = try lab.nftfwdOK("doctor").stdout
        #expect(text.split(separator: "\n").count == 10)
        #expect(text.split(separator: "\n").allSatisfy { $0.hasPrefix("OK   ") })
    }

    @Test("ip_forward 0 with an IPv4 mapping: add and ls warn, doctor fails (exit 2); set to 1: all quiet")
    func ipv4Forwarding() throws {
        let lab = try Lab(hostOnly: "dfw4")
        defer { lab.destroy() }
        try Self.routeTargets(lab)
        let add = try lab.nftfwdOK("add", "198.18.1.1:8080", "198.18.2.2:80")
        let warning = "nftfwd: warning: net.ipv4.ip_forward is 0: traffic from other hosts to 198.18.1.1:8080/tcp will not reach 198.18.2.2; enable it with 'sysctl -w net.ipv4.ip_forward=1' or 'nftfwd add --enable-forwarding ...'\n"
        #expect(add.stderr == warning)
        #expect(add.stdout == "published 198.18.1.1:8080/tcp -> 198.18.2.2:80\n")
        #expect(try lab.nftfwdOK("ls").stderr == warning)
        // A relay-only mapping is never forwarded: no warning.
        #expect(try lab.nftfwdOK("add", "127.0.0.1:6379", "198.18.2.2:6379").stderr == "")
        try lab.nftfwdOK("rm", "127.0.0.1:6379")
        // Nor is one to an address of this host (DNAT'd traffic is delivered here).
        try lab.net.sh(lab.host, "ip addr add 198.18.3.1/32 dev lo")
        #expect(try lab.nftfwdOK("add", "8443", "198.18.3.1:443").stderr == "")
        try lab.nftfwdOK("rm", "8443")

        var report = try Self.doctor(lab)
        #expect(report.statuses("ipv4-forwarding") == ["fail"])
        #expect(report.exit == 2 && report.status == "fail" && !report.ok)
        #expect(report.findings.first { $0.check == "ipv4-forwarding" }?.fix == "enable it with 'sysctl -w net.ipv4.ip_forward=1' or publish with 'nftfwd add --enable-forwarding'")

        try lab.net.exec(lab.host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        report = try Self.doctor(lab)
        #expect(report.statuses("ipv4-forwarding") == ["ok"])
        #expect(report.messages("ipv4-forwarding") == ["net.ipv4.ip_forward is 1"])
        #expect(try lab.nftfwdOK("ls").stderr == "")
        #expect(try lab.nftfwdOK("add", "198.18.1.1:8081", "198.18.2.2:81").stderr == "")
    }

    @Test("IPv6 forwarding off with an IPv6 mapping: warned; --enable-forwarding switches on only the family in use")
    func ipv6Forwarding() throws {
        let lab = try Lab(hostOnly: "dfw6")
        defer { lab.destroy() }
        try Self.routeTargets(lab)
        func setting(_ name: String) throws -> String {
            try lab.net.exec(lab.host, ["sysctl", "-n", name]).stdout.trimmingCharacters()
        }
        let add = try lab.nftfwdOK("add", "[2001:db8:1::1]:8080", "[2001:db8:2::2]:80")
        #expect(add.stderr == "nftfwd: warning: net.ipv6.conf.all.forwarding is 0: traffic from other hosts to [2001:db8:1::1]:8080/tcp will not reach 2001:db8:2::2; enable it with 'sysctl -w net.ipv6.conf.all.forwarding=1' or 'nftfwd add --enable-forwarding ...'\n")
        #expect(try Self.doctor(lab).statuses("ipv6-forwarding") == ["fail"])

        // Asked for, nftfwd switches on IPv6 forwarding (the family in use), not IPv4.
        let enabled = try lab.nftfwdOK("add", "[2001:db8:1::1]:8080", "[2001:db8:2::2]:80", "--enable-forwarding")
        #expect(enabled.stdout == "already published: [2001:db8:1::1]:8080/tcp -> [2001:db8:2::2]:80\nset net.ipv6.conf.all.forwarding=1\n")
        #expect(enabled.stderr == "")
        #expect(try setting("net.ipv6.conf.all.forwarding") == "1")
        #expect(try setting("net.ipv4.ip_forward") == "0")
        #expect(try Self.doctor(lab).statuses("ipv6-forwarding") == ["ok"])

        // apply --enable-forwarding does the same for the document's families.
        let document = "[{\"host\": \"8080\", \"target\": \"198.18.2.2:80\"}, {\"host\": \"[::]:8080\", \"target\": \"[2001:db8:2::2]:80\"}]"
        let applied = try lab.nftfwdOK("apply", "-", "--enable-forwarding", stdin: document)
        #expect(applied.stdout.hasSuffix("set net.ipv4.ip_forward=1\n"))
        #expect(try setting("net.ipv4.ip_forward") == "1")
        #expect(try Self.doctor(lab).statuses("ipv4-forwarding") == ["ok"])
    }

    @Test("another table's forward chain with policy drop: named by add and doctor; accepting DNAT'd connections silences it")
    func forwardDrop() throws {
        let lab = try Lab(hostOnly: "dfwd")
        defer { lab.destroy() }
        try Self.routeTargets(lab)
        try lab.net.exec(lab.host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try lab.net.exec(lab.host, ["nft", "add table inet fw; add chain inet fw forward { type filter hook forward priority 0; policy drop; }"])
        let add = try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        #expect(add.stderr == "nftfwd: warning: table inet fw chain forward (hook forward, policy drop) drops forwarded traffic no rule of it accepts: traffic from other hosts to 8080/tcp may never reach 198.18.2.2; accept DNAT'd connections there with 'nft insert rule inet fw forward ct status dnat accept'\n")
        var report = try Self.doctor(lab)
        #expect(report.statuses("forward-drop") == ["warn"])

        // The suggested fix, exactly as printed, silences it.
        try lab.net.exec(lab.host, ["nft", "insert rule inet fw forward ct status dnat accept"])
        report = try Self.doctor(lab)
        #expect(report.statuses("forward-drop") == ["ok"])
        #expect(report.messages("forward-drop") == ["forward chains with policy drop accept DNAT'd connections: inet fw forward"])
        #expect(try lab.nftfwdOK("ls").stderr == "")

        // iptables-nft's FORWARD policy DROP (Docker sets it): the fix is an iptables command.
        try lab.net.exec(lab.host, ["iptables-nft", "-P", "FORWARD", "DROP"])
        report = try Self.doctor(lab)
        #expect(report.statuses("forward-drop") == ["warn"])
        #expect(report.findings.first { $0.check == "forward-drop" }?.fix == "accept DNAT'd connections there with 'iptables -I FORWARD -m conntrack --ctstate DNAT -j ACCEPT'")
        try lab.net.exec(lab.host, ["iptables-nft", "-I", "FORWARD", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"])
        #expect(try Self.doctor(lab).statuses("forward-drop") == ["ok"])
        // An IPv6-only table does not concern IPv4 mappings.
        try lab.net.exec(lab.host, ["nft", "add table ip6 fw6; add chain ip6 fw6 forward { type filter hook forward priority 0; policy drop; }"])
        #expect(try Self.doctor(lab).statuses("forward-drop") == ["ok"])
    }

    @Test("route_localnet on an interface: WARN naming it, exit 1; back to 0: OK")
    func routeLocalnet() throws {
        let lab = try Lab(hostOnly: "drln")
        defer { lab.destroy() }
        try lab.net.exec(lab.host, ["sysctl", "-qw", "net.ipv4.conf.lo.route_localnet=1"])
        var report = try Self.doctor(lab)
        #expect(report.statuses("route-localnet") == ["warn"])
        #expect(report.messages("route-localnet").first?.hasPrefix("net.ipv4.conf.lo.route_localnet is 1: ") == true)
        #expect(report.exit == 1 && report.status == "warn")
        try lab.net.exec(lab.host, ["sysctl", "-qw", "net.ipv4.conf.lo.route_localnet=0"])
        report = try Self.doctor(lab)
        #expect(report.statuses("route-localnet") == ["ok"])
        #expect(report.exit == 0)
    }

    @Test("the relay: FAIL for a loopback mapping while it is not running, WARN for a wildcard one; running: OK")
    func relay() throws {
        let lab = try Lab(hostOnly: "drly")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "[::1]:6379", "[2001:db8:2::2]:6379")
        var report = try Self.doctor(lab)
        #expect(report.statuses("relay") == ["fail"])
        #expect(report.messages("relay") == ["the relay is not running, and only it can serve [::1]:6379/tcp: unreachable from anywhere"])
        try lab.nftfwdOK("rm", "[::1]:6379")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        #expect(try Self.doctor(lab).statuses("relay") == ["warn"])

        let relay = try RelayTests.startRelay(lab)
        defer { kill(relay, SIGTERM); _ = Command.wait(pid: relay, timeout: 10) }
        #expect(TestNetwork.waitUntil(timeout: 5) { (try? Self.doctor(lab).statuses("relay")) == ["ok"] })
        // A port the relay cannot bind is reported: UDP, since loopback TCP clients reach the
        // relay through the kernel's redirect and it binds no TCP port of theirs.
        try #require(lab.net.background(lab.host, ["python3", "-c", "import socket,time; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(('127.0.0.1', 8090)); time.sleep(60)"]) != nil)
        #expect(TestNetwork.waitUntil(timeout: 5) { lab.net.run(lab.host, ["ss", "-Huln", "sport = :8090"]).stdout.contains("8090") })
        try lab.nftfwdOK("add", "127.0.0.1:8090", "198.18.2.2:80", "--proto", "udp")
        #expect(TestNetwork.waitUntil(timeout: 5) {
            (try? Self.doctor(lab).messages("relay").contains { $0.hasPrefix("the relay cannot serve 127.0.0.1:8090/udp -> 198.18.2.2:80 on 127.0.0.1:8090/udp: error: ") }) == true
        })
    }

    @Test("targets: a TCP target without a listener is named; with one it passes; udp is said not to be probed")
    func targets() throws {
        let lab = try Lab("dtgt")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "198.18.1.1:8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "198.18.1.1:8081", "198.18.2.2:81")
        try lab.nftfwdOK("add", "198.18.1.1:5353", "198.18.2.2:53", "--proto", "udp")
        var report = try Self.doctor(lab)
        #expect(report.statuses("targets") == ["warn", "ok"])
        #expect(report.messages("targets") == [
            "nothing listens on 198.18.2.2:81, the target of 198.18.1.1:8081/tcp (connection refused)",
            "1 tcp target(s) accept connections; 198.18.1.1:5353/udp not probed (udp and sctp cannot be probed reliably: a service need not answer)",
        ])
        #expect(report.exit == 1)

        let ready = "/tmp/\(lab.net.prefix)-ready81"
        unlink(ready)
        lab.net.background(lab.target, ["python3", netpeer, "serve", "81", ready])
        #expect(TestNetwork.waitUntil(timeout: 15) { access(ready, F_OK) == 0 })
        unlink(ready)
        report = try Self.doctor(lab)
        #expect(report.statuses("targets") == ["ok"])
        #expect(report.messages("targets") == ["2 tcp target(s) accept connections; 198.18.1.1:5353/udp not probed (udp and sctp cannot be probed reliably: a service need not answer)"])
        #expect(report.exit == 0, "\(report.findings)")
    }

    @Test("doctor as a user without CAP_NET_ADMIN: exit 2 with the reason")
    func notRoot() throws {
        let lab = try Lab(hostOnly: "dusr")
        defer { lab.destroy() }
        let result = lab.net.run(lab.host, ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", nftfwdBinary, "doctor"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("needs CAP_NET_ADMIN"))
    }
}
