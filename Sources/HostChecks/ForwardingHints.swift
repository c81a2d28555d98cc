import NFTables
import PortForwarding
import RelayReport

/// The warnings `nftfwd add` and `nftfwd ls` print (issue: "what will not work, and how to
/// fix it"): forwarding off for a family whose mappings the kernel forwards, and forward
/// chains of other tables that drop by default. Best effort: whatever cannot be read gives
/// no warning, and the command's own work is never affected.
public enum ForwardingHints {
    public static func warnings(for mappings: [Mapping], ownTable: String, flagHint: String) -> [String] {
        let forwarded = mappings.filter { !$0.isRelayOnly }
        guard !forwarded.isEmpty else { return [] }
        var findings = Forwarding.findings(for: forwarded, enabled: Forwarding.isEnabled, flagHint: flagHint)
        if let nft = try? NFTables(), let chains = try? ForwardFilter.dropChains(session: nft, ownTable: ownTable) {
            findings += ForwardFilter.findings(chains: chains, mappings: forwarded)
        }
        return findings.filter { $0.status != .ok }.map(\.warningLine)
    }
}
