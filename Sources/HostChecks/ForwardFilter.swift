import NFTables
import PortForwarding
import NetworkAddress

/// Base chains of other tables on the forward hook whose policy is drop. Every base chain on
/// a hook sees the packet and any of them may drop it, so a firewall's
/// `chain forward { type filter hook forward priority 0; policy drop; }` silently drops the
/// connections nftfwd DNATs to other hosts, unless it has a rule accepting them (the trap
/// behind netavark issue 977).
public struct ForwardDropChain: Sendable, Equatable {
    public var family: TableFamily
    public var table: String
    public var chain: String
    /// The chain itself has a rule `ct status dnat accept` (nftfwd's suggested fix).
    public var acceptsDNAT: Bool

    /// The IP families whose forwarded traffic passes this chain.
    public var ipFamilies: [IPAddress.Family] {
        switch family {
        case .ipv4: return [.ipv4]
        case .ipv6: return [.ipv6]
        case .inet: return [.ipv4, .ipv6]
        }
    }

    /// `ip filter FORWARD`, as nft commands name it.
    /// Names come from other tables of the kernel: escaped (`Untrusted.escape`).
    public var nftName: String { "\(family) \(Untrusted.escape(table)) \(Untrusted.escape(chain))" }
}

public enum ForwardFilter {
    /// The forward-hook base chains with policy drop, in every table but `ownTable` (inet).
    public static func dropChains(session nft: any NFTablesSession, ownTable: String) throws(NetlinkError) -> [ForwardDropChain] {
        var out: [ForwardDropChain] = []
        for chain in try nft.allChains() where chain.hook == Hook.forward.kernelValue && chain.dropsByDefault {
            guard let family = chain.family, !(family == .inet && chain.table == ownTable) else { continue }
            let rules = try nft.rules(of: TableSpec(name: chain.table, family: family), chain: chain.name)
            out.append(ForwardDropChain(family: family, table: chain.table, chain: chain.name,
                                        acceptsDNAT: rules.contains { acceptsDNAT($0.values) }))
        }
        return out.sorted { ($0.table, $0.chain) < ($1.table, $1.chain) }
    }

    /// Whether a rule accepts every DNAT'd connection and does nothing else (a counter aside):
    /// nft's `ct status dnat accept` (a ct status load, a mask holding IPS_DST_NAT 0x20 with
    /// nothing xored in, a compare with zero that must fail, an accept verdict, all on one
    /// register), or iptables-nft's `-m conntrack --ctstate DNAT -j ACCEPT` (an xtables
    /// conntrack match, then accept). Matched on the values NFTables read from the kernel's
    /// attributes, never on printed text.
    static func acceptsDNAT(_ expressions: [ExpressionRecord]) -> Bool {
        let e = expressions.filter { $0 != .counter }
        guard e.last == .verdict(.accept) else { return false }
        if e.count == 4 {
            guard case .conntrack(let key, let reg) = e[0], key == Expression.ConntrackKey.status.kernelValue,
                  case .bitwise(let from, let into, let mask, let xor) = e[1], from == reg, into == reg,
                  mask.count == 4, xor.count == 4, xor.allSatisfy({ $0 == 0 }), hostWord(mask, at: 0).map({ $0 & 0x20 != 0 }) == true,
                  case .compare(let compared, let op, let data) = e[2], compared == reg, op == Expression.CompareOp.neq.kernelValue,
                  !data.isEmpty, data.allSatisfy({ $0 == 0 }) else { return false }
            return true
        }
        return e.count == 2 && conntrackMatchesOnlyDNAT(e[0])
    }

    /// xt_conntrack_mtinfo2/3 (revisions 2 and 3 share the start): match_flags at byte 146,
    /// invert_flags at 148, state_mask at 150, host byte order. Only XT_CONNTRACK_STATE (1)
    /// may be asked for, not inverted, and the states must include DNAT (0x80).
    static func conntrackMatchesOnlyDNAT(_ expression: ExpressionRecord) -> Bool {
        guard case .match("conntrack", let revision, let info) = expression, revision == 2 || revision == 3,
              info.count >= 152 else { return false }
        func u16(_ offset: Int) -> UInt16 { info.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) } }
        return u16(146) == 1 && u16(148) & 1 == 0 && u16(150) & 0x80 != 0
    }

    /// A 32-bit word of `bytes` in host order (as the kernel's registers hold ct status), nil past the end.
    private static func hostWord(_ bytes: [UInt8], at offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    public static func findings(chains: [ForwardDropChain], mappings: [Mapping], isLocal: ((IPAddress) -> Bool)? = nil) -> [Finding] {
        var out: [Finding] = []
        for chain in chains where !chain.acceptsDNAT {
            let affected = chain.ipFamilies.flatMap { Forwarding.needing($0, in: mappings, isLocal: isLocal) }
            guard !affected.isEmpty else { continue }
            out.append(Finding(.forwardDrop, .warn,
                               "table \(chain.family) \(Untrusted.escape(chain.table)) chain \(Untrusted.escape(chain.chain)) (hook forward, policy drop) drops forwarded traffic no rule of it accepts: traffic from other hosts to \(names(affected)) may never reach \(targets(affected))",
                               fix: "accept DNAT'd connections there with \(fixCommand(chain))"))
        }
        if out.isEmpty {
            let dropping = chains.filter { !$0.acceptsDNAT }
            let message: String
            if chains.isEmpty {
                message = "no other table has a forward chain with policy drop"
            } else if dropping.isEmpty {
                message = "forward chains with policy drop accept DNAT'd connections: " + chains.map(\.nftName).joined(separator: ", ")
            } else {
                message = "no mapping of the families of " + dropping.map(\.nftName).joined(separator: ", ") + " (policy drop) goes through the kernel"
            }
            out.append(Finding(.forwardDrop, .ok, message))
        }
        return out
    }

    /// The command that lets DNAT'd connections through the chain. Tables that iptables-nft
    /// manages (ip/ip6 filter FORWARD) are changed with iptables, which nft rules would confuse.
    static func fixCommand(_ chain: ForwardDropChain) -> String {
        if chain.table == "filter" && chain.chain == "FORWARD" && chain.family != .inet {
            let tool = chain.family == .ipv4 ? "iptables" : "ip6tables"
            return "'\(tool) -I FORWARD -m conntrack --ctstate DNAT -j ACCEPT'"
        }
        return "'nft insert rule \(chain.nftName) ct status dnat accept'"
    }
}
