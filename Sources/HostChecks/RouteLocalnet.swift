/// route_localnet lets the kernel route packets addressed to 127.0.0.0/8 that arrive from
/// other hosts: with a DNAT rule matching them, a neighbour reaches services bound to
/// 127.0.0.1 (the CVE-2020-8558 class). nftfwd never sets it and serves loopback through
/// its relay instead.
public enum RouteLocalnet {
    /// The interfaces (and `all` / `default`) where it is set, in this network namespace.
    public static func enabledInterfaces() -> [String] {
        Sysctl.entries("net.ipv4.conf").filter { Sysctl.flag("net.ipv4.conf.\(Sysctl.component($0)).route_localnet") == true }
    }

    public static func findings(enabledOn interfaces: [String]) -> [Finding] {
        guard !interfaces.isEmpty else {
            return [Finding(.routeLocalnet, .ok, "route_localnet is 0 on every interface")]
        }
        return interfaces.map { name in
            let setting = "net.ipv4.conf.\(Sysctl.component(name)).route_localnet"
            let scope = name == "all" ? "all interfaces" : name == "default" ? "interfaces created from now on" : name
            return Finding(.routeLocalnet, .warn,
                           "\(setting) is 1: packets to 127.0.0.0/8 arriving on \(scope) are routed, so a neighbour may reach services bound to 127.0.0.1",
                           fix: "turn it off with 'sysctl -w \(setting)=0' (nftfwd serves loopback through its relay and never needs it)")
        }
    }
}
