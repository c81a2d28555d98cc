import PortForwarding

/// IP forwarding, per family. Traffic from other hosts that the kernel DNATs to a target
/// elsewhere is forwarded, so it needs forwarding on for its family; traffic from this host
/// (output chain) and the relay's connections do not.
public enum Forwarding {
    /// The sysctl that switches forwarding for a family on.
    public static func setting(_ family: IPAddress.Family) -> String {
        family == .ipv4 ? "net.ipv4.ip_forward" : "net.ipv6.conf.all.forwarding"
    }

    /// Whether forwarding is on in this network namespace; nil if unknown (e.g. IPv6 disabled).
    public static func isEnabled(_ family: IPAddress.Family) -> Bool? {
        Sysctl.flag(setting(family))
    }

    /// Switches forwarding on for `family` in this network namespace (until reboot).
    /// For IPv6 this also makes the kernel ignore router advertisements on interfaces with
    /// accept_ra=1, as forwarding always does.
    public static func enable(_ family: IPAddress.Family) throws(SysctlError) {
        try Sysctl.write(setting(family), "1")
    }

    /// The mappings whose traffic from other hosts is forwarded: DNAT'd by the kernel to a
    /// target of `family`.
    public static func needing(_ family: IPAddress.Family, in mappings: [Mapping]) -> [Mapping] {
        mappings.filter { !$0.isRelayOnly && $0.targetFamily == family }
    }

    /// The families `--enable-forwarding` switches on for these mappings.
    public static func families(needed mappings: [Mapping]) -> [IPAddress.Family] {
        [.ipv4, .ipv6].filter { !needing($0, in: mappings).isEmpty }
    }

    /// One finding per family. `flagHint` is how the user asks nftfwd to switch it on
    /// (`'nftfwd add --enable-forwarding ...'`).
    public static func findings(for mappings: [Mapping], enabled: (IPAddress.Family) -> Bool?,
                                flagHint: String) -> [Finding] {
        [IPAddress.Family.ipv4, .ipv6].map { family in
            let check: Check = family == .ipv4 ? .ipv4Forwarding : .ipv6Forwarding
            let name = setting(family)
            let needy = needing(family, in: mappings)
            switch (enabled(family), needy.isEmpty) {
            case (true?, _):
                return Finding(check, .ok, "\(name) is 1")
            case (_, true):
                let state = enabled(family) == nil ? "cannot be read" : "is 0"
                return Finding(check, .ok, "\(name) \(state); no \(family.rawValue) mapping goes through the kernel")
            case (false?, false):
                return Finding(check, .fail,
                               "\(name) is 0: traffic from other hosts to \(names(needy)) will not reach \(targets(needy))",
                               fix: "enable it with 'sysctl -w \(name)=1' or \(flagHint)")
            case (nil, false):
                return Finding(check, .fail,
                               "\(name) cannot be read (is \(family.rawValue) disabled?): traffic from other hosts to \(names(needy)) will not reach \(targets(needy))",
                               fix: "enable \(family.rawValue) and set \(name)=1")
            }
        }
    }
}
