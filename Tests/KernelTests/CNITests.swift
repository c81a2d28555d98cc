import Testing
import TestSupport
import PortForwarding
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// nftfwd-cni driven exactly as a CNI runtime drives it, after Debian's reference bridge and
/// host-local plugins (see CNILab), and side by side with the reference portmap.
@Suite("Kernel: the CNI plugin, run as runtimes run it", .kernelTest, .enabled(if: CNILab.available, "needs Debian's containernetworking-plugins (bridge, host-local, portmap in /usr/lib/cni): contrib/setup.sh installs it"))
struct CNITests {
    static let id1 = String(repeating: "c1a5", count: 16)   // 64 hex digits, as runtimes make them
    static let id2 = String(repeating: "c2b6", count: 16)

    /// The CNI error object on stdout of a failed plugin run.
    func errorCode(_ r: CommandResult) -> Int? {
        guard let json = try? JSON.parse(r.stdout), case .number(let code)? = json["code"] else { return nil }
        return Int(code)
    }

    @Test("two containers: ADD publishes (from another host, from the host itself, hairpin; IPv4 and IPv6) without route_localnet; CHECK; DEL of one leaves the other; DEL again succeeds")
    func twoContainers() throws {
        let lab = try CNILab("cni2")
        defer { lab.destroy() }
        try lab.addContainer("c1", id: CNITests.id1)
        try lab.addContainer("c2", id: CNITests.id2)
        let c1Maps = [(8080, 80, "tcp", ""), (8081, 81, "udp", "")]
        let c2Maps = [(8090, 80, "tcp", ""), (8091, 81, "tcp", "192.168.91.1")]
        let add1 = lab.cni("ADD", "c1", c1Maps)
        #expect(add1.succeeded, "\(add1.stdout) \(add1.stderr)")
        // The result is prevResult, passed on (the container's addresses, in the config's version).
        let result = try JSON.parse(add1.stdout)
        #expect(result["cniVersion"] == .string("1.0.0"))
        #expect(result["ips"] == lab.containers["c1"]!.result["ips"])
        // No relay runs in this namespace: the log says 127.0.0.1 is not served, and why.
        #expect(add1.stderr.contains("no 'nftfwd relay' serves table nftfwd"))
        let add2 = lab.cni("ADD", "c2", c2Maps)
        #expect(add2.succeeded, "\(add2.stdout) \(add2.stderr)")

        let c1 = lab.containers["c1"]!.ns, c2 = lab.containers["c2"]!.ns
        for proto in ["tcp", "udp"] {
            let port = proto == "tcp" ? 8080 : 8081, served = proto == "tcp" ? 80 : 81
            #expect(lab.ask(from: lab.lan, proto, "192.168.91.1", port) == "\(proto) \(served) from 192.168.91.2 at c1")
            #expect(lab.ask(from: lab.lan, proto, "fd91::1", port) == "\(proto) \(served) from fd91::2 at c1")
            // From the host itself (the output hook), to its own addresses.
            #expect(lab.ask(from: lab.host, proto, "192.168.91.1", port) == "\(proto) \(served) from 192.168.91.1 at c1")
            // Hairpin: c1 reaches itself and c2 reaches c1 through the host (masqueraded to the bridge address).
            for client in [c1, c2] {
                #expect(lab.ask(from: client, proto, "192.168.91.1", port) == "\(proto) \(served) from 10.89.0.1 at c1", "from \(client)")
                #expect(lab.ask(from: client, proto, "fd91::1", port) == "\(proto) \(served) from fd89::1 at c1", "from \(client)")
            }
        }
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8090) == "tcp 80 from 192.168.91.2 at c2")
        // A host IP binds the mapping to that address, of its family only.
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8091) == "tcp 81 from 192.168.91.2 at c2")
        #expect(lab.ask(from: lab.lan, "tcp", "fd91::1", 8091).hasPrefix("ERROR"))
        // 127.0.0.1 is left to the relay: never route_localnet.
        #expect(try lab.net.exec(lab.host, ["sysctl", "-n", "net.ipv4.conf.cni0.route_localnet", "net.ipv4.conf.all.route_localnet"]).stdout == "0\n0\n")
        // nftfwd ls names the owner of each mapping.
        let listing = try lab.net.exec(lab.host, [nftfwdBinary, "ls"]).stdout
        #expect(listing.contains("cni:c1a5c1a5c1a5~"), "\(listing)")
        #expect(listing.components(ofLine: "10.89.0.2:80").count == 1, "\(listing)")

        // CHECK: exact passes; a config with another mapping, or a mapping deleted behind its back, fails.
        let check = lab.cni("CHECK", "c1", c1Maps)
        #expect(check.succeeded, "\(check.stdout) \(check.stderr)")
        #expect(errorCode(lab.cni("CHECK", "c1", c1Maps + [(8082, 82, "tcp", "")])) == 103)
        try lab.net.exec(lab.host, [nftfwdBinary, "rm", "8081", "--proto", "udp"])
        let broken = lab.cni("CHECK", "c1", c1Maps)
        #expect(errorCode(broken) == 103)
        #expect(broken.stdout.contains("missing: 8081/udp"), "\(broken.stdout)")
        #expect(lab.cni("ADD", "c1", c1Maps).succeeded)   // ADD again restores, leaving the rest alone
        #expect(lab.cni("CHECK", "c1", c1Maps).succeeded)
        // ADD again with another container port, no DEL between: the container's own mappings
        // are replaced, not a conflict (CHECK would see the old ones as not in the config).
        let changed = [(8080, 82, "tcp", ""), (8081, 81, "udp", "")]
        #expect(lab.cni("ADD", "c1", changed).succeeded)
        #expect(lab.cni("CHECK", "c1", changed).succeeded)
        #expect(lab.cni("ADD", "c1", c1Maps).succeeded)

        // DEL of c1 (as a runtime may send it: no prevResult, the netns already gone) removes
        // its mappings only.
        let del = lab.cni("DEL", "c1", c1Maps, prevResult: false, netns: false)
        #expect(del.succeeded && del.stdout.isEmpty, "\(del.stdout) \(del.stderr)")
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8080).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8090) == "tcp 80 from 192.168.91.2 at c2")
        let left = try lab.net.exec(lab.host, [nftfwdBinary, "ls", "--json"]).stdout
        #expect(!left.contains("cni:c1a5") && left.contains("cni:c2b6"), "\(left)")
        // DEL twice succeeds, and so does DEL of a container that never published.
        #expect(lab.cni("DEL", "c1", c1Maps).succeeded)
        #expect(lab.runPlugin(CNILab.cniBinary, "DEL", id: "never-added", netns: nil, config: lab.mappingConfig("nftfwd-cni", "c1", [])).succeeded)
        #expect(lab.cni("DEL", "c2", c2Maps).succeeded)
        #expect(!(try lab.table()).contains("elements"))
    }

    @Test("a conflict between two containers fails ADD with CNI error 100, all or nothing: the table is unchanged (CNI 0.4.0)")
    func conflict() throws {
        let lab = try CNILab("cnic", version: "0.4.0")
        defer { lab.destroy() }
        try lab.addContainer("c1", id: CNITests.id1)
        try lab.addContainer("c2", id: CNITests.id2)
        // "masquerade": true masquerades the container's subnets (from prevResult), once.
        let masquerade: [(String, JSON)] = [("masquerade", .bool(true))]
        #expect(lab.cni("ADD", "c1", [(8080, 80, "tcp", "")], options: masquerade).succeeded)
        let rules = try lab.net.exec(lab.host, [nftfwdBinary, "masquerade", "ls"]).stdout
        #expect(rules.contains("10.89.0.0/24") && rules.contains("fd89::/64"), "\(rules)")
        let before = try lab.table()
        // c2's first mapping is free, its second is c1's port: nothing of c2's is published.
        let r = lab.cni("ADD", "c2", [(8070, 80, "tcp", ""), (8080, 81, "tcp", "")], options: masquerade)
        #expect(r.status != 0)
        let error = try JSON.parse(r.stdout)
        #expect(error["cniVersion"] == .string("0.4.0"))
        #expect(error["code"] == .number(100))
        if case .string(let details)? = error["details"] {
            #expect(details.contains("8080/tcp -> 10.89.0.3:81") && details.contains("8080/tcp -> 10.89.0.2:80"), "\(details)")
        } else {
            Issue.record("no details in \(r.stdout)")
        }
        #expect(try lab.table() == before)
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8070).hasPrefix("ERROR"))
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8080) == "tcp 80 from 192.168.91.2 at c1")
        let counted = try lab.table()   // the listing holds the counters the asks moved
        // The same mapping from another container's id (an address reused) is a conflict too.
        #expect(errorCode(lab.runPlugin(CNILab.cniBinary, "ADD", id: "someone-else", netns: "/run/netns/\(lab.containers["c1"]!.ns)",
                                        config: lab.mappingConfig("nftfwd-cni", "c1", [(8080, 80, "tcp", "")]))) == 100)
        #expect(try lab.table() == counted)
    }

    @Test("VERSION answers the supported versions; bad environments and configs are CNI errors on stdout (codes 1, 4, 6, 7) and change nothing")
    func versionAndErrors() throws {
        let lab = try CNILab("cniv")
        defer { lab.destroy() }
        let config = lab.mappingConfig("nftfwd-cni", "none", [(8080, 80, "tcp", "")])
        let version = lab.runPlugin(CNILab.cniBinary, "VERSION", id: "x", netns: nil, config: config)
        #expect(version.succeeded)
        let answer = try JSON.parse(version.stdout)
        #expect(answer["supportedVersions"] == .array(["0.3.0", "0.3.1", "0.4.0", "1.0.0"].map { JSON.string($0) }))
        func code(_ command: String, id: String = "ok", netns: String? = "/run/netns/x", ifname: String = "eth0", _ config: JSON) -> Int? {
            errorCode(lab.runPlugin(CNILab.cniBinary, command, id: id, netns: netns, ifname: ifname, config: config))
        }
        #expect(code("ADD", netns: nil, config) == 7)
        #expect(code("ADD", id: "bad/id", config) == 7)
        #expect(code("ADD", ifname: "a#b", config) == 7)
        #expect(code("FROB", config) == 7)
        var fields: [(String, JSON)] = []
        if case .object(let f) = config { fields = f }
        #expect(code("ADD", .object(fields.map { $0.0 == "cniVersion" ? ($0.0, .string("2.0.0")) : $0 })) == 1)
        #expect(code("ADD", .object(fields + [("table", .string("no spaces"))])) == 4)
        // A mapping nftfwd cannot take, and no prevResult with mappings to publish.
        #expect(code("ADD", lab.mappingConfig("nftfwd-cni", "none", [(0, 80, "tcp", "")])) == 4)
        #expect(code("ADD", config) == 4)
        let notJSON = Command.run(["ip", "netns", "exec", lab.host, CNILab.cniBinary], stdin: "{nope",
                                  environment: ["CNI_COMMAND=ADD", "CNI_CONTAINERID=x", "CNI_IFNAME=eth0", "CNI_NETNS=/run/netns/x"])
        #expect(errorCode(notJSON) == 6)
        #expect(lab.net.run(lab.host, ["nft", "list", "table", "inet", "nftfwd"]).status != 0, "nothing created the table")
    }

    @Test("127.0.0.1 and ::1 through nftfwd relay, which picks the container's mappings up and lets them go at DEL; route_localnet stays 0")
    func loopbackThroughRelay() throws {
        let lab = try CNILab("cnir")
        let log = "/tmp/\(lab.net.prefix)-relay.log"
        defer { lab.destroy(); unlink(log) }
        try lab.addContainer("c1", id: CNITests.id1)
        try lab.net.exec(lab.host, [nftfwdBinary, "add", "9999", "10.89.0.250:9"])   // a table for the relay to read
        try lab.net.exec(lab.host, [nftfwdBinary, "rm", "9999"])
        lab.net.background(lab.host, [nftfwdBinary, "relay"], log: log)
        func status() -> RelayStatus? { (try? inNamespace(lab.host) { StatusChannel.query(table: "nftfwd") }) ?? nil }
        #expect(TestNetwork.waitUntil(timeout: 10) { status() != nil }, "the relay did not answer on its status socket in 10 s")
        let add = lab.cni("ADD", "c1", [(8080, 80, "tcp", "")])
        #expect(add.succeeded, "\(add.stdout) \(add.stderr)")
        #expect(!add.stderr.contains("no 'nftfwd relay'"), "\(add.stderr)")
        // The relay polls the ruleset generation (200 ms): both families' mappings, listening.
        #expect(TestNetwork.waitUntil(timeout: 10) { status()?.ports.filter { $0.state == "listening" }.count == 2 }, "\(String(describing: status()?.ports))")
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 10.89.0.1 at c1")
        #expect(lab.ask(from: lab.host, "tcp", "::1", 8080) == "tcp 80 from fd89::1 at c1")
        #expect(try lab.net.exec(lab.host, ["sysctl", "-n", "net.ipv4.conf.cni0.route_localnet", "net.ipv4.conf.all.route_localnet"]).stdout == "0\n0\n")
        #expect(lab.cni("DEL", "c1", [(8080, 80, "tcp", "")]).succeeded)
        #expect(TestNetwork.waitUntil(timeout: 10) { status()?.ports.isEmpty == true }, "\(String(describing: status()?.ports))")
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080).hasPrefix("ERROR"))
    }

    @Test("under a --restore-from relay, which would undo them: ADD fails with CNI error 101 and nftfwd-proxy (NFTFWD_PROXY_PUBLISH=1) refuses to start, both changing nothing")
    func refusedUnderRestoringRelay() throws {
        let lab = try CNILab("cniu")
        let log = "/tmp/\(lab.net.prefix)-relay.log", file = "/tmp/\(lab.net.prefix)-saved.json"
        defer { lab.destroy(); unlink(log); unlink(file) }
        try lab.addContainer("c1", id: CNITests.id1)
        try lab.net.exec(lab.host, [nftfwdBinary, "add", "9999", "10.89.0.250:9"])
        try lab.net.exec(lab.host, [nftfwdBinary, "save", file])
        lab.net.background(lab.host, [nftfwdBinary, "relay", "--restore-from", file], log: log)
        func status() -> RelayStatus? { (try? inNamespace(lab.host) { StatusChannel.query(table: "nftfwd") }) ?? nil }
        #expect(TestNetwork.waitUntil(timeout: 10) { status()?.restoreFrom == file }, "the relay did not answer on its status socket in 10 s")
        let before = try lab.table()
        let add = lab.cni("ADD", "c1", [(8080, 80, "tcp", "")])
        #expect(errorCode(add) == 101, "\(add.stdout) \(add.stderr)")
        #expect(add.stdout.contains("restores table nftfwd from \(file)"), "\(add.stdout)")
        let proxy = lab.net.run(lab.host, ["env", "NFTFWD_PROXY_PUBLISH=1", DockerEngineTests.nftfwdProxy, "-proto", "tcp", "-host-ip", "0.0.0.0",
                                           "-host-port", "8081", "-container-ip", "10.89.0.2", "-container-port", "81"], timeout: 20)
        #expect(proxy.status == 1, "\(proxy)")
        #expect(proxy.stderr.contains("keeps table inet nftfwd equal to \(file) and would undo this mapping"), "\(proxy.stderr)")
        #expect(try lab.table() == before)
    }

    @Test("--help teaches: how a conflist names the plugin, the commands, the options, the error codes; an argument is a usage error")
    func help() throws {
        let help = Command.run([CNILab.cniBinary, "--help"])
        #expect(help.status == 0)
        for text in ["\"type\": \"nftfwd-cni\", \"capabilities\": { \"portMappings\": true }", "CNI_COMMAND (ADD, DEL, CHECK, VERSION)",
                     "\"table\"", "\"masquerade\": true", "\"masqueradeSubnets\"", "\"snat\"", "route_localnet is never set",
                     "100 port conflict", "cni:ID:IFNAME"] {
            #expect(help.stdout.contains(text), "\(text)")
        }
        let wrong = Command.run([CNILab.cniBinary, "ADD"])
        #expect(wrong.status == 1 && wrong.stderr.contains("a CNI plugin reads CNI_* variables and stdin"), "\(wrong)")
    }

    @Test("side by side with the reference portmap in one chain: both publish the same ports; nftfwd-cni adds no rule; after portmap's DEL nftfwd still serves them")
    func besidePortmap() throws {
        let lab = try CNILab("cnip")
        defer { lab.destroy() }
        try lab.addContainer("c1", id: CNITests.id1)
        let maps = [(8080, 80, "tcp", ""), (8081, 81, "udp", "")]
        // nftfwd's table exists first, so what follows counts only the rules each plugin adds.
        try lab.net.exec(lab.host, [nftfwdBinary, "add", "9999", "10.89.0.250:9"])
        try lab.net.exec(lab.host, [nftfwdBinary, "rm", "9999"])
        let start = try lab.ruleCount()
        let pm = lab.portmap("ADD", "c1", maps)
        #expect(pm.succeeded, "\(pm.stdout) \(pm.stderr)")
        let afterPortmap = try lab.ruleCount()
        // The chain goes on: nftfwd-cni gets portmap's result (prevResult passed on) as its prevResult.
        var config = lab.mappingConfig("nftfwd-cni", "c1", maps, prevResult: false)
        if case .object(let fields) = config { config = .object(fields + [("prevResult", try JSON.parse(pm.stdout))]) }
        let nf = lab.runPlugin(CNILab.cniBinary, "ADD", id: CNITests.id1, netns: "/run/netns/\(lab.containers["c1"]!.ns)", config: config)
        #expect(nf.succeeded, "\(nf.stdout) \(nf.stderr)")
        #expect(try lab.ruleCount() == afterPortmap, "nftfwd-cni publishes map elements, never rules")
        #expect(afterPortmap > start, "portmap wrote rules")
        for (proto, port, served) in [("tcp", 8080, 80), ("udp", 8081, 81)] {
            #expect(lab.ask(from: lab.lan, proto, "192.168.91.1", port) == "\(proto) \(served) from 192.168.91.2 at c1")
        }
        // portmap's own loopback answer sets route_localnet on the bridge; nftfwd-cni never does.
        #expect(try lab.net.exec(lab.host, ["sysctl", "-n", "net.ipv4.conf.cni0.route_localnet"]).stdout == "1\n")
        let pmDel = lab.portmap("DEL", "c1", maps)
        #expect(pmDel.succeeded, "\(pmDel.stdout) \(pmDel.stderr)")
        // (portmap leaves its top-level chains and their jumps behind.)
        #expect(try lab.ruleCount() < afterPortmap)
        for (proto, port, served) in [("tcp", 8080, 80), ("udp", 8081, 81)] {
            #expect(lab.ask(from: lab.lan, proto, "192.168.91.1", port) == "\(proto) \(served) from 192.168.91.2 at c1", "served by nftfwd alone")
        }
        #expect(lab.cni("DEL", "c1", maps).succeeded)
        #expect(lab.ask(from: lab.lan, "tcp", "192.168.91.1", 8080).hasPrefix("ERROR"))
    }
}

extension String {
    /// The lines that contain `text`.
    func components(ofLine text: String) -> [Substring] { split(separator: "\n").filter { $0.contains(text) } }
}
