import NFTables
import PortForwarding
import NetworkAddress

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
    /// target of `family` that is not one of this host's own addresses (traffic DNAT'd to a
    /// local address is delivered here, never forwarded). `isLocal` is asked only for the
    /// mappings that get that far.
    public static func needing(_ family: IPAddress.Family, in mappings: [Mapping],
                               isLocal: ((IPAddress) -> Bool)? = nil) -> [Mapping] {
        let candidates = mappings.filter { !$0.isRelayOnly && $0.targetFamily == family }
        guard !candidates.isEmpty else { return [] }
        let local = isLocal ?? localAddresses(family)
        return candidates.filter { !local($0.target.address!) }
    }

    /// A test of "assigned to an interface of this network namespace", read once.
    static func localAddresses(_ family: IPAddress.Family) -> (IPAddress) -> Bool {
        let addresses = Set((try? InterfaceAddresses.list(family)) ?? [])
        return { addresses.contains($0) }
    }

    /// The families `--enable-forwarding` switches on for these mappings.
    public static func families(needed mappings: [Mapping], isLocal: ((IPAddress) -> Bool)? = nil) -> [IPAddress.Family] {
        [.ipv4, .ipv6].filter { !needing($0, in: mappings, isLocal: isLocal).isEmpty }
    }

    /// One finding per family. `flagHint` is how the user asks nftfwd to switch it on
    /// (`'nftfwd add --enable-forwarding ...'`).
    public static func findings(for mappings: [Mapping], enabled: (IPAddress.Family) -> Bool?,
                                flagHint: String, isLocal: ((IPAddress) -> Bool)? = nil) -> [Finding] {
        [IPAddress.Family.ipv4, .ipv6].map { family in
            let check: Check = family == .ipv4 ? .ipv4Forwarding : .ipv6Forwarding
            let name = setting(family)
            // Forwarding on (the usual case) needs no look at the mappings: `apply` of
            // 100,000 spent 4% of a no-change run filtering them for nothing.
            let on = enabled(family)
            if on == true { return Finding(check, .ok, "\(name) is 1") }
            let needy = needing(family, in: mappings, isLocal: isLocal)
            switch (on, needy.isEmpty) {
            case (true?, _):
                return Finding(check, .ok, "\(name) is 1")
            case (_, true):
                let state = on == nil ? "cannot be read" : "is 0"
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
