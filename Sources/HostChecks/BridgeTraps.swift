import NFTables
import PortForwarding
import NetworkAddress

/// The traps that leave a published port silently unreachable although the table is right:
/// - hairpin mode: with bridged traffic passing through netfilter
///   (net.bridge.bridge-nf-call-iptables=1, as on Docker's hosts), a container reaching its
///   own published port through the host is DNAT'd at bridge level and must be sent back out
///   of the port it came in by, which a bridge port does only with hairpin mode on;
/// - a target no route of this host leads to (a typo'd address): DNAT'd traffic goes nowhere;
/// - a target reached through a gateway out of the interface its clients come in by (a typo'd
///   address that only the default route matches): DNAT'd traffic turns back the way it came.
public enum BridgeTraps {
    public static func findings(for mappings: [Mapping]) -> [Finding] {
        let kernel = mappings.filter { !$0.isRelayOnly }
        var hairpin: [Finding] = [], unroutable: [Finding] = []
        var seen = Set<String>()
        // One route table per family, read when first needed (two variables, not a
        // Dictionary: its first use costs a scan of every conformance in the binary).
        var routes4: [TargetPaths.Route]?, routes6: [TargetPaths.Route]?
        func routes(_ family: IPAddress.Family) -> [TargetPaths.Route] {
            if family == .ipv4 {
                if routes4 == nil { routes4 = TargetPaths.routes(family) }
                return routes4!
            }
            if routes6 == nil { routes6 = TargetPaths.routes(family) }
            return routes6!
        }
        for mapping in kernel {
            guard let target = mapping.target.address else { continue }
            let family = target.family
            guard let route = TargetPaths.route(to: target, in: routes(family)) else {
                unroutable.append(Finding(.targetRoute, .warn,
                                          "no route of this host leads to \(target), the target of \(mapping.label): DNAT'd traffic to it goes nowhere",
                                          fix: "check the address (a typo?), or add the route or the interface that reaches it"))
                continue
            }
            if let entry = TargetPaths.entryInterface(of: mapping, in: routes(family)), route.viaGateway, route.interface == entry {
                let through = mapping.host.address.map { "the interface of \($0)" } ?? "the interface of the default route"
                unroutable.append(Finding(.targetRoute, .warn,
                                          "\(target), the target of \(mapping.label), is reached through a gateway out of \(Untrusted.escape(entry)), \(through), by which its clients come in: DNAT'd traffic turns back the way it came",
                                          fix: "check the address (a typo?): 'ip route get \(target)'"))
                continue
            }
            guard !route.viaGateway, TargetPaths.isBridge(route.interface) else { continue }
            let setting = family == .ipv4 ? "net.bridge.bridge-nf-call-iptables" : "net.bridge.bridge-nf-call-ip6tables"
            guard Sysctl.flag(setting) == true else { continue }
            let bridge = route.interface
            // The port the target's MAC was learnt on; without one (no ARP entry yet, or IPv6,
            // whose neighbours /proc does not list), every port of the bridge is a suspect.
            let known = TargetPaths.port(of: target, on: bridge)
            let ports = known.map { [$0] } ?? TargetPaths.ports(of: bridge)
            for port in ports where TargetPaths.hairpinOn(bridge, port) == false && seen.insert("\(bridge) \(port)").inserted {
                let name = Untrusted.escape(port), br = Untrusted.escape(bridge)
                let behind = known != nil ? "behind which \(target) (the target of \(mapping.label)) lives"
                    : "through which \(target) (the target of \(mapping.label)) may be reached"
                hairpin.append(Finding(.hairpin, .warn,
                                       "hairpin mode is off on port \(name) of bridge \(br), \(behind), while \(setting) is 1: a container there reaching its own published port through the host times out",
                                       fix: "bridge link set dev \(name) hairpin on (container runtimes: Docker sets it without its userland proxy, '--userland-proxy=false'; CNI bridge: \"hairpinMode\": true)"))
            }
        }
        if hairpin.isEmpty {
            hairpin = [Finding(.hairpin, .ok, "no target is behind a bridge port with hairpin mode off while bridged traffic passes through netfilter")]
        }
        if unroutable.isEmpty {
            unroutable = [Finding(.targetRoute, .ok, kernel.isEmpty ? "no mapping goes through the kernel" : "a route of this host leads to every kernel-path target")]
        }
        return unroutable + hairpin
    }
}
