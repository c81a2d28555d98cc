import NFTables
import PortForwarding
import RelayReport

/// `nftfwd doctor`: every check, in `Check` order, on this network namespace.
public struct Doctor {
    public var table: String
    /// How long the TCP probes of the targets may take, all together.
    public var probeTimeoutMilliseconds: Int

    /// The kernel the checks read (`NFTables` of this namespace; tests: `NFTablesFake`).
    var makeSession: () throws -> any NFTablesSession = { try NFTables() }

    public init(table: String = "nftfwd", probeTimeoutMilliseconds: Int = 1000) {
        self.table = table
        self.probeTimeoutMilliseconds = probeTimeoutMilliseconds
    }

    /// Runs the checks. Throws only when nftables cannot be talked to at all (not root).
    public func run() throws -> [Finding] {
        let nft = try makeSession()
        var out = [try NATSupport.finding(session: nft)]

        var mappings: [Mapping] = []
        do {
            let snapshot = try Publisher(tableName: table, session: nft).list()
            mappings = snapshot.mappings.map(\.mapping)
            out.append(Finding(.table, .ok, snapshot.exists
                ? "table inet \(table) holds \(mappings.count) mapping(s)"
                : "table inet \(table) does not exist yet (nothing published)"))
        } catch {
            // A table nftfwd cannot read is a finding; every other failure ends the checks.
            guard case .foreignTable(let foreign) = error else { throw error }
            out.append(Finding(.table, .fail, "\(foreign.problem): nftfwd cannot read table inet \(table)",
                               fix: "inspect it with 'nft list table inet \(table)'; 'nftfwd flush' removes it"))
        }

        out += Forwarding.findings(for: mappings, enabled: Forwarding.isEnabled,
                                   flagHint: "publish with 'nftfwd add --enable-forwarding'")
        out += ForwardFilter.findings(chains: try ForwardFilter.dropChains(session: nft, ownTable: table), mappings: mappings)
        out += RouteLocalnet.findings(enabledOn: RouteLocalnet.enabledInterfaces())
        var status: RelayStatus?
        var unanswered: String?
        var untrusted: String?
        switch StatusChannel.ask(table: table) {
        case .status(let s): status = s
        case .noAnswer(let why): unanswered = why
        case .notTrusted(let uid, let pid): untrusted = StatusChannel.untrusted(table: table, uid: uid, pid: pid)
        case .noRelay: break
        }
        out += RelayCheck.findings(mappings: mappings, status: status, table: table, unanswered: unanswered, untrusted: untrusted)
        out += TargetCheck.run(mappings: mappings, timeoutMilliseconds: probeTimeoutMilliseconds)
        out += BridgeTraps.findings(for: mappings)
        return out
    }

    /// The worst status found: the exit code is 0 for OK, 1 for WARN, 2 for FAIL.
    public static func worst(_ findings: [Finding]) -> Finding.Status {
        findings.map(\.status).max() ?? .ok
    }

    /// `{"ok": ..., "status": "warn", "checks": [...]}`.
    public static func json(_ findings: [Finding]) -> JSON {
        let worst = worst(findings)
        return .object([("ok", .bool(worst == .ok)), ("status", .string(worst.rawValue)),
                        ("checks", .array(findings.map(\.json)))])
    }

    /// One line per finding: `FAIL ipv4-forwarding  <message>; fix: <fix>`.
    public static func text(_ findings: [Finding]) -> String {
        let width = Check.allCases.map(\.rawValue.count).max() ?? 0
        return findings.map { f in
            let label = f.status.label.padding(4)
            // One line per finding whatever the message quotes (names in it are escaped
            // where they enter it; this keeps a newline from starting a forged finding).
            let line = "\(f.message)" + (f.fix.map { "; fix: \($0)" } ?? "")
            return "\(label) \(f.check.rawValue.padding(width))  \(Untrusted.neutralize(line))"
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
