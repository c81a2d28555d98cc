#if canImport(Glibc)
import Glibc
#endif
import PortForwarding
import Testing
import TestSupport

/// A real Docker engine (Debian's docker.io 20.10, downloaded and unpacked, never installed)
/// running in its own network namespace with `--userland-proxy-path`: nftfwd-proxy must do
/// what the genuine docker-proxy does, and the genuine one goes through the same script as the
/// reference; and the nat table such an engine writes must import (`nftfwd import iptables`)
/// to the ports `docker port` reports. contrib/testing/docker-engine.sh does the engine's part
/// and prints one line per check.
///
/// Serialized: the tests share the script's cache of Debian binaries and the image (the
/// script also locks it while filling it), and two engines at once only slow each other down.
@Suite("Kernel: a real Docker engine with nftfwd-proxy as its userland proxy, and its nat table imported",
       .kernelTest,
       .serialized)
struct DockerEngineTests {
    static let script = repositoryRoot + "/contrib/testing/docker-engine.sh"

    /// nftfwd-proxy, built beside the test bundle like nftfwd.
    static let nftfwdProxy: String = {
        var parts = nftfwdBinary.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/nftfwd-proxy"
    }()

    /// Fills the cache (host tools, Debian binaries, image) if needed and returns the genuine
    /// docker-proxy's path. On a fresh machine this downloads and installs, hence its own bound,
    /// so the test run proper keeps its 300 s.
    static func prepare() throws -> String {
        let result = Command.run(["/bin/bash", script, "--genuine-proxy-path"], timeout: 600)
        try #require(result.status == 0, "docker-engine.sh --genuine-proxy-path:\n\(result)")
        return result.stdout.trimmingCharacters()
    }

    static func check(proxy: String) {
        let result = Command.run(["/bin/bash", script, proxy], timeout: 300)
        #expect(result.status == 0, "docker-engine.sh \(proxy):\n\(result)")
    }

    @Test("dockerd publishes ports through nftfwd-proxy: TCP and UDP, 127.0.0.1 and [::1], bind errors reach docker run")
    func nftfwdProxyServes() throws {
        _ = try Self.prepare()
        Self.check(proxy: Self.nftfwdProxy)
    }

    @Test("dockerd --iptables=false with NFTFWD_PROXY_PUBLISH=1: the proxies publish in nftfwd's table (kernel DNAT from another namespace, no rule added, 127.0.0.1 still served), docker stop removes, a kill -9 leftover is taken over")
    func proxiesPublish() throws {
        _ = try Self.prepare()
        let result = Command.run(["/bin/bash", Self.script, "--publish", Self.nftfwdProxy, nftfwdBinary], timeout: 300)
        #expect(result.status == 0, "docker-engine.sh --publish:\n\(result)")
        #expect(result.stdout.contains("ok the next docker run -p 8085:80 takes the mapping over"), "\(result.stdout)")
    }

    @Test("the same checks pass with the genuine docker-proxy (the reference behaviour)")
    func genuineDockerProxyServes() throws {
        Self.check(proxy: try Self.prepare())
    }

    /// The ports `docker port` reports, one per host port: "tcp *:8080 -> 172.17.0.2:80"
    /// (`*` for every address), and apart the ports docker-proxy also serves on [::]
    /// (":::8080"), which are not in iptables.
    static func dockerPorts(_ text: String, containerIP: String) -> (ipv4: Set<String>, ipv6Proxy: Set<String>) {
        var ipv4: Set<String> = [], ipv6: Set<String> = []
        for line in text.split(separator: "\n") {   // "80/tcp -> 0.0.0.0:8080", "80/tcp -> :::8080"
            let sides = line.split(separator: " ")
            guard sides.count == 3, let slash = sides[0].firstIndex(of: "/"), let colon = sides[2].lastIndex(of: ":") else { continue }
            let containerPort = sides[0][..<slash], proto = sides[0][sides[0].index(after: slash)...]
            let address = sides[2][..<colon], hostPort = sides[2][sides[2].index(after: colon)...]
            if address == "::" { ipv6.insert("\(proto) *:\(hostPort)"); continue }
            ipv4.insert("\(proto) \(address == "0.0.0.0" ? "*" : String(address)):\(hostPort) -> \(containerIP):\(containerPort)")
        }
        return (ipv4, ipv6)
    }

    /// The same form for imported mappings, a range expanded port by port.
    static func ports(of mappings: [Mapping]) -> Set<String> {
        Set(mappings.flatMap { m in
            m.host.ports.ports.map { port in
                "\(m.proto) \(m.host.address?.description ?? "*"):\(port) -> \(m.target.address!):\(m.targetPort(for: port))"
            }
        })
    }

    @Test("the engine's iptables-save -t nat imports to exactly the ports docker port reports; --apply publishes them",
          arguments: ["docker-proxy", "none"])
    func importPublishedPorts(proxy: String) throws {
        let genuine = try Self.prepare()
        var template = Array("/tmp/nftfwd-dkr-import.XXXXXX".utf8CString)
        let dir = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        defer { Command.run(["rm", "-rf", dir]) }
        let capture = Command.run(["/bin/bash", Self.script, "--capture-nat", dir, proxy == "none" ? "none" : genuine], timeout: 300)
        try #require(capture.status == 0, "docker-engine.sh --capture-nat \(proxy):\n\(capture)")
        let containerIP = try Command.check(["cat", dir + "/container-ip.txt"]).stdout.trimmingCharacters()
        let docker = Self.dockerPorts(try Command.check(["cat", dir + "/ports.txt"]).stdout, containerIP: containerIP)
        // 8080:80, 127.0.0.1:8081:81/udp and 9000-9002 (Docker publishes a range port by port).
        #expect(docker.ipv4.count == 5, "\(docker.ipv4)")

        let imported = Command.run([nftfwdBinary, "import", "iptables", dir + "/nat.txt"])
        #expect(imported.status == 0, "\(imported)")
        let document = try StateDocument.parse(imported.stdout)
        #expect(Self.ports(of: document.mappings) == docker.ipv4)
        #expect(document.masquerade == [try MasqueradeRule.parse(subnet: "172.17.0.0/16", outNot: "docker0")])
        #expect(!imported.stderr.contains("not imported"), "\(imported.stderr)")
        // docker-proxy's IPv6 listeners (docker port's ':::PORT') are not in iptables: each has
        // its IPv4 twin, and the report says how to publish them.
        if proxy == "none" {
            #expect(docker.ipv6Proxy.isEmpty)
        } else {
            let wildcard = Set(docker.ipv4.filter { $0.contains(" *:") }.map { String($0.split(separator: " ").prefix(2).joined(separator: " ")) })
            #expect(docker.ipv6Proxy == wildcard && wildcard.count == 4)
            #expect(unwrapped(imported.stderr).contains("IPv6 clients need mappings of their own (nftfwd add [::]:PORT ADDR:PORT)"), "\(imported.stderr)")
        }

        let lab = try Lab(hostOnly: "dimp")
        defer { lab.destroy() }
        try lab.nftfwdOK("import", "iptables", dir + "/nat.txt", "--apply")
        let listed = try StateDocument.parse(try lab.nftfwdOK("ls", "--json").stdout)
        #expect(listed.mappings.sorted() == document.mappings.sorted())
        #expect(listed.masquerade == document.masquerade)
    }
}
