import NFTables
import PortForwarding

/// Whether this kernel can hold nftfwd's table: nf_tables with nat chains, dnat, fib and
/// concatenated maps. The check changes nothing: the whole table, under a scratch name, goes
/// to the kernel as a trial batch (`NFTablesSession.trial`), which the kernel checks message by
/// message (loading modules as it would for real) and then rolls back. Reading /proc would
/// not do: built-in and modular kernels show nf_tables' parts in different places, and only
/// the kernel's own answer covers every part the table uses.
public enum NATSupport {
    static let trialTable = "nftfwd-doctor-trial"

    public static func finding(session: any NFTablesSession) throws(NetlinkError) -> Finding {
        finding(objections: try TableLayout(name: trialTable).objectionsToCreation(on: session))
    }

    static func finding(objections: [NetlinkError.Rejection]) -> Finding {
        guard let first = objections.first else {
            return Finding(.natSupport, .ok, "the kernel accepts nftfwd's table (nf_tables with nat, fib, maps, interval sets and conntrack labels), checked without changing anything")
        }
        let more = objections.count > 1 ? " (and \(objections.count - 1) more)" : ""
        return Finding(.natSupport, .fail, "the kernel refuses nftfwd's table: '\(first.operation)': \(first.errno)\(more)",
                       fix: "use a kernel with nf_tables NAT (CONFIG_NF_TABLES_INET, CONFIG_NFT_NAT, CONFIG_NFT_FIB_INET), or load its modules: 'modprobe -a nft_chain_nat nft_nat nft_fib_inet'")
    }
}
