import PortForwarding
import RelayReport

/// The userland relay (`nftfwd relay`): mappings bound to 127.0.0.1/::1 and between IPv6 and
/// IPv4 only work through it, and wildcard mappings need it for clients on this host that
/// connect to 127.0.0.1 or ::1.
public enum RelayCheck {
    /// `unanswered`: why a process holding the relay's status socket gave no proper answer
    /// (nil when none holds it, or it answered). `untrusted`: what holds it instead of a relay
    /// run by root (a WARN of its own; the rest is judged as if no relay ran).
    public static func findings(mappings: [Mapping], status: RelayStatus?, table: String, unanswered: String? = nil,
                                untrusted: String? = nil) -> [Finding] {
        let squatted = untrusted.map {
            [Finding(.relay, .warn, $0, fix: "find that process ('ss -xlp | grep nftfwd') and stop it; then start the relay")]
        } ?? []
        return squatted + judged(mappings: mappings, status: status, table: table, unanswered: unanswered)
    }

    private static func judged(mappings: [Mapping], status: RelayStatus?, table: String, unanswered: String?) -> [Finding] {
        let served = mappings.filter(RelayPlan.serves)
        let only = served.filter(\.isRelayOnly)
        let start = "start it: 'systemctl enable --now nftfwd-relay'" + (table == "nftfwd" ? "" : " (with --table \(table))") + " or 'nftfwd relay\(table == "nftfwd" ? "" : " --table \(table)") &'"
        guard let status else {
            if let unanswered {
                return [Finding(.relay, .warn, "a relay holds the status socket of table \(table) but does not answer: \(unanswered)",
                                fix: "see its log; restart it ('systemctl restart nftfwd-relay')")]
            }
            if served.isEmpty { return [Finding(.relay, .ok, "no mapping needs the relay (it is not running)")] }
            if !only.isEmpty {
                return [Finding(.relay, .fail, "the relay is not running, and only it can serve \(names(only)): unreachable from anywhere",
                                fix: start)]
            }
            return [Finding(.relay, .warn, "the relay is not running: connections from this host to 127.0.0.1 or ::1 on \(names(served)) are refused (other hosts still reach them)",
                            fix: start)]
        }
        var out: [Finding] = []
        if let problem = status.problem {
            out.append(Finding(.relay, .warn, "the relay (pid \(status.pid)) cannot read the table: \(problem)",
                               fix: "see 'nftfwd ls' and the relay's log"))
        }
        // A port still starting is one the relay has not tried yet (it follows the table every 200 ms).
        for port in status.ports where port.state != .listening && port.state != .starting {
            out.append(Finding(.relay, .warn, "the relay cannot serve \(port.mapping) on \(port.listen): \(port.state)",
                               fix: "free that port (another program holds it) or remove the mapping; the relay retries every second"))
        }
        if out.isEmpty {
            out.append(Finding(.relay, .ok, "the relay (pid \(status.pid)) listens on all \(status.ports.count) port(s) it serves"))
        }
        return out
    }
}
