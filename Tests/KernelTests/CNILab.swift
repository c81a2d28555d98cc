import Testing
import TestSupport
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// A host as a CNI runtime leaves it: Debian's reference `bridge` + `host-local` plugins,
/// run in the host namespace exactly as a runtime runs them (CNI_* in the environment, the
/// network config on stdin), give two container namespaces their addresses on bridge cni0;
/// then a port-mapping plugin (nftfwd-cni, or the reference portmap) gets the same config with
/// `prevResult` and `runtimeConfig.portMappings`.
///
///      lan 192.168.91.2 ── lan0 192.168.91.1   host   cni0 10.89.0.1 ── c1, c2 (10.89.0.x)
///          fd91::2              fd91::1                    fd89::1           (fd89::x)
///
/// The containers serve TCP and UDP on 80 and 81 and name themselves in each answer. Every
/// address exists only inside these namespaces; host-local keeps its leases in a directory of
/// the lab's, removed with it.
final class CNILab {
    static let pluginDirectory = "/usr/lib/cni"
    static var available: Bool { access(pluginDirectory + "/bridge", X_OK) == 0 && access(pluginDirectory + "/host-local", X_OK) == 0 }
    static let cniBinary: String = nftfwdBinary.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/nftfwd-cni"

    let net: TestNetwork
    let host: String, lan: String
    let dataDir: String
    let version: String
    /// Container namespace, CNI_CONTAINERID and the bridge plugin's result, by name ("c1").
    private(set) var containers: [String: (ns: String, id: String, result: JSON)] = [:]

    init(_ label: String, version: String = "1.0.0") throws {
        net = TestNetwork(label)
        dataDir = "/tmp/\(net.prefix)-ipam"
        self.version = version
        do {
            host = try net.add("h")
            lan = try net.add("lan")
            try net.link(lan, "eth0", ["192.168.91.2/24", "fd91::2/64"], host, "lan0", ["192.168.91.1/24", "fd91::1/64"])
            try net.sh(host, "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
        } catch {
            net.destroy()
            throw error
        }
    }

    func destroy() {
        net.destroy()
        Command.run(["rm", "-rf", dataDir])
    }

    /// The bridge plugin's network config (hairpin on, as podman's default network has it).
    var bridgeConfig: JSON {
        .object([
            ("cniVersion", .string(version)), ("name", .string("cnilab")), ("type", .string("bridge")),
            ("bridge", .string("cni0")), ("isGateway", .bool(true)), ("ipMasq", .bool(false)), ("hairpinMode", .bool(true)),
            ("ipam", .object([
                ("type", .string("host-local")), ("dataDir", .string(dataDir)),
                ("ranges", .array([.array([.object([("subnet", .string("10.89.0.0/24"))])]),
                                   .array([.object([("subnet", .string("fd89::/64"))])])])),
                ("routes", .array([.object([("dst", .string("0.0.0.0/0"))]), .object([("dst", .string("::/0"))])])),
            ])),
        ])
    }

    /// Runs `plugin` (a path) in the host namespace as a runtime does.
    func runPlugin(_ plugin: String, _ command: String, id: String, netns: String?, ifname: String = "eth0", config: JSON) -> CommandResult {
        var environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND=\(command)", "CNI_CONTAINERID=\(id)",
                           "CNI_IFNAME=\(ifname)", "CNI_PATH=\(CNILab.pluginDirectory)"]
        if let netns { environment.append("CNI_NETNS=\(netns)") }
        return Command.run(["ip", "netns", "exec", host, plugin], stdin: config.rendered(), timeout: 60, environment: environment)
    }

    /// Creates container `name`'s namespace, runs bridge ADD for it, and starts its servers.
    @discardableResult
    func addContainer(_ name: String, id: String) throws -> JSON {
        let ns = try net.add(name)
        let r = runPlugin(CNILab.pluginDirectory + "/bridge", "ADD", id: id, netns: "/run/netns/\(ns)", config: bridgeConfig)
        guard r.succeeded else { throw NamespaceError(description: "bridge ADD for \(name) failed: \(r.stdout) \(r.stderr)") }
        let result = try JSON.parse(r.stdout)
        containers[name] = (ns, id, result)
        let ready = "/tmp/\(net.prefix)-\(name)-ready"
        unlink(ready)
        net.background(ns, ["python3", netpeer, "serve", "80,81", ready, name])
        // The servers listen, and no IPv6 address here or on the host is still tentative (DAD).
        let settled = TestNetwork.waitUntil(timeout: 15) {
            access(ready, F_OK) == 0
                && net.run(ns, ["ip", "-6", "addr", "show", "tentative"]).stdout.isEmpty
                && net.run(host, ["ip", "-6", "addr", "show", "tentative"]).stdout.isEmpty
        }
        unlink(ready)
        guard settled else { throw NamespaceError(description: "container \(name) not ready in 15 s") }
        return result
    }

    /// Container `name`'s first address of `family`, from the bridge plugin's result.
    func address(_ name: String, v6: Bool = false) -> String {
        guard case .array(let ips)? = containers[name]?.result["ips"] else { return "?" }
        for ip in ips {
            if case .string(let cidr)? = ip["address"], cidr.contains(":") == v6 { return String(cidr.split(separator: "/")[0]) }
        }
        return "?"
    }

    /// A port-mapping plugin's config: `type`, the bridge's result as prevResult, the mappings
    /// (hostPort, containerPort, protocol[, hostIP]) and any extra options.
    func mappingConfig(_ type: String, _ name: String, _ mappings: [(Int, Int, String, String)], options: [(String, JSON)] = [],
                       prevResult: Bool = true) -> JSON {
        let list = mappings.map { m in
            JSON.object([("hostPort", .number(Double(m.0))), ("containerPort", .number(Double(m.1))),
                         ("protocol", .string(m.2)), ("hostIP", .string(m.3))])
        }
        var fields: [(String, JSON)] = [("cniVersion", .string(version)), ("name", .string("cnilab")), ("type", .string(type))]
        fields += options
        fields.append(("runtimeConfig", .object([("portMappings", .array(list))])))
        if prevResult, let result = containers[name]?.result { fields.append(("prevResult", result)) }
        return .object(fields)
    }

    /// Runs nftfwd-cni for container `name`.
    func cni(_ command: String, _ name: String, _ mappings: [(Int, Int, String, String)], options: [(String, JSON)] = [],
             prevResult: Bool = true, netns: Bool = true) -> CommandResult {
        let container = containers[name]!
        return runPlugin(CNILab.cniBinary, command, id: container.id, netns: netns ? "/run/netns/\(container.ns)" : nil,
                         config: mappingConfig("nftfwd-cni", name, mappings, options: options, prevResult: prevResult))
    }

    /// Runs the reference portmap for container `name`.
    func portmap(_ command: String, _ name: String, _ mappings: [(Int, Int, String, String)]) -> CommandResult {
        let container = containers[name]!
        return runPlugin(CNILab.pluginDirectory + "/portmap", command, id: container.id, netns: "/run/netns/\(container.ns)",
                         config: mappingConfig("portmap", name, mappings, options: [("snat", .bool(true))]))
    }

    /// What answered `proto` traffic sent from `ns` to `address`:`port`, or "ERROR <reason>".
    func ask(from ns: String, _ proto: String, _ address: String, _ port: Int) -> String {
        net.run(ns, ["python3", netpeer, "ask", proto, address, "\(port)"], timeout: 20).stdout.trimmingCharacters()
    }

    /// nft rules in the host namespace, every table (JSON objects of kind "rule").
    func ruleCount() throws -> Int {
        let json = try net.exec(host, ["nft", "-j", "list", "ruleset"]).stdout
        return json.split(separator: "{\"rule\":", omittingEmptySubsequences: false).count - 1
    }

    func table() throws -> String { try net.exec(host, ["nft", "list", "table", "inet", "nftfwd"]).stdout }
}
