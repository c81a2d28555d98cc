import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The container topology nftfwd exists for: a host with a Linux bridge, two "containers" on
/// it, and a client on another link.
///
///                    host
///      lan 192.168.90.2 ── lan0 192.168.90.1      br0 10.88.0.1 ── c1 10.88.0.2
///          fd90::2              fd90::1               fd88::1   └─ c2 10.88.0.3
///                                                                    (fd88::2, fd88::3)
///
/// c1 and c2 serve TCP and UDP on `containerPorts` and name themselves in each answer
/// ("tcp 80 from 10.88.0.1 at c1"); lan serves `lanPort`. The addresses exist only inside
/// these namespaces. The containers' bridge ports have hairpin mode on, as a container runtime
/// sets it (Docker does when it has no userland proxy): without it a bridge never sends a frame
/// back out of the port it came in by, which a container reaching itself through the host needs
/// when bridged traffic passes through netfilter.
final class BridgeLab {
    let net: TestNetwork
    let host: String, c1: String, c2: String, lan: String
    static let containerPorts = "80,81,9000-9001"
    static let lanPort = 7000

    init(_ label: String) throws {
        net = TestNetwork(label)
        do {
            host = try net.add("h")
            c1 = try net.add("c1")
            c2 = try net.add("c2")
            lan = try net.add("lan")
            try net.sh(host, """
                ip link add br0 type bridge && ip link set br0 up && \
                ip addr add 10.88.0.1/24 dev br0 && ip -6 addr add fd88::1/64 dev br0 nodad && \
                sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
                """)
            for (ns, v4, v6, port) in [(c1, "10.88.0.2", "fd88::2", "vc1"), (c2, "10.88.0.3", "fd88::3", "vc2")] {
                try net.link(ns, "eth0", ["\(v4)/24", "\(v6)/64"], host, port, [])
                try net.sh(host, "ip link set \(port) master br0 && bridge link set dev \(port) hairpin on")
                try net.sh(ns, "ip route add default via 10.88.0.1 && ip -6 route add default via fd88::1")
            }
            try net.link(lan, "eth0", ["192.168.90.2/24", "fd90::2/64"], host, "lan0", ["192.168.90.1/24", "fd90::1/64"])
            var ready: [String] = []
            for (ns, name, ports) in [(c1, "c1", BridgeLab.containerPorts), (c2, "c2", BridgeLab.containerPorts), (lan, "lan", "\(BridgeLab.lanPort)")] {
                let file = "/tmp/\(net.prefix)-\(name)-ready"
                unlink(file)
                ready.append(file)
                net.background(ns, ["python3", netpeer, "serve", ports, file, name])
            }
            guard TestNetwork.waitUntil(timeout: 15, { ready.allSatisfy { access($0, F_OK) == 0 } }) else {
                throw NamespaceError(description: "the peers (netpeer.py) were not ready in 15 s")
            }
            for file in ready { unlink(file) }
        } catch {
            net.destroy()
            throw error
        }
    }

    func destroy() { net.destroy() }

    @discardableResult
    func nftfwdOK(_ args: String...) throws -> CommandResult {
        try net.exec(host, [nftfwdBinary] + args)
    }

    /// What answered `proto` traffic sent from `ns` to `address`:`port`, or "ERROR <reason>".
    /// `source` picks one of the client's addresses.
    func ask(from ns: String, _ proto: String, _ address: String, _ port: Int, source: String? = nil) -> String {
        net.run(ns, ["python3", netpeer, "ask", proto, address, "\(port)"] + (source.map { [$0] } ?? []), timeout: 20).stdout.trimmingCharacters()
    }

    /// Whether bridged IPv4/IPv6 traffic passes through netfilter in the host namespace.
    func setBridgeNetfilter(_ on: Bool) throws {
        let v = on ? 1 : 0
        try net.sh(host, "sysctl -qw net.bridge.bridge-nf-call-iptables=\(v) net.bridge.bridge-nf-call-ip6tables=\(v)")
    }

    /// The packets counted by a rule of the table's `guard` chain, read from nft's JSON.
    func guardPackets() throws -> [Int] {
        let json = try net.exec(host, ["nft", "-j", "list", "chain", "inet", "nftfwd", "guard"]).stdout
        var out: [Int] = []
        var rest = Substring(json)
        while let r = rest.firstRange(of: "\"counter\": {\"packets\": ") {
            rest = rest[r.upperBound...]
            out.append(Int(rest.prefix { $0.isNumber }) ?? -1)
        }
        return out
    }

    func mac(_ ns: String, _ ifname: String) throws -> String {
        try net.exec(ns, ["cat", "/sys/class/net/\(ifname)/address"]).stdout.trimmingCharacters()
    }
}
