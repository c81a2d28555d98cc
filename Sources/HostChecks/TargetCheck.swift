import SystemCalls
import NFTRelay
import PortForwarding
import NetworkAddress

/// Whether something listens on the mappings' targets, probed from this host with a TCP
/// connect (closed at once, with a FIN). UDP cannot be probed reliably: a UDP service need
/// not answer anything, and silence looks the same as a dropped probe, so UDP and SCTP targets
/// are only counted.
public enum TargetCheck {
    /// At most this many target ports are probed in one run (ranges are probed port by port).
    public static let probeLimit = 64

    public struct Result: Sendable {
        public var target: SocketAddress
        public var mappings: [Mapping]
        public var outcome: ConnectProbe.Outcome
    }

    /// Probes the TCP targets (up to `probeLimit`) and returns the findings.
    public static func run(mappings: [Mapping], timeoutMilliseconds: Int = 1000) -> [Finding] {
        var byTarget: [String: (SocketAddress, [Mapping])] = [:]
        var order: [String] = []
        for mapping in mappings where mapping.proto == .tcp {
            for port in mapping.host.ports.ports {
                let targetPort = mapping.targetPort(for: port)
                let address = SocketAddress(ip: mapping.target.address!, port: targetPort)
                let key = address.description
                if byTarget[key] == nil { order.append(key); byTarget[key] = (address, []) }
                if byTarget[key]!.1.last != mapping { byTarget[key]!.1.append(mapping) }
            }
        }
        let probed = Array(order.prefix(probeLimit))
        let outcomes = ConnectProbe.probe(probed.map { byTarget[$0]!.0 }, timeoutMilliseconds: timeoutMilliseconds)
        let results = zip(probed, outcomes).map { Result(target: byTarget[$0]!.0, mappings: byTarget[$0]!.1, outcome: $1) }
        let others = mappings.filter { $0.proto != .tcp }
        return findings(results, skipped: order.count - probed.count, notProbed: others, timeoutMilliseconds: timeoutMilliseconds)
    }

    static func findings(_ results: [Result], skipped: Int, notProbed: [Mapping], timeoutMilliseconds: Int) -> [Finding] {
        var out: [Finding] = []
        for result in results {
            let what = "\(result.target), the target of \(names(result.mappings))"
            let fix = "start the service there, or correct the mapping ('nftfwd rm' then 'nftfwd add')"
            switch result.outcome {
            case .accepted: continue
            case .refused:
                out.append(Finding(.targets, .warn, "nothing listens on \(what) (connection refused)", fix: fix))
            case .noAnswer:
                out.append(Finding(.targets, .warn, "no answer from \(what) within \(timeoutMilliseconds) ms (host down, or a firewall dropping)", fix: fix))
            case .failed(let errno):
                out.append(Finding(.targets, .warn, "cannot connect to \(what): \(errno)", fix: "check the route to it: 'ip route get \(result.target.ip)'"))
            }
        }
        let accepted = results.filter { $0.outcome == .accepted }.count
        var notes: [String] = []
        if results.isEmpty && notProbed.isEmpty { notes.append("nothing published") }
        if accepted > 0 { notes.append("\(accepted) tcp target(s) accept connections") }
        if skipped > 0 { notes.append("\(skipped) more tcp target port(s) not probed (limit \(probeLimit))") }
        if !notProbed.isEmpty {
            notes.append("\(names(notProbed)) not probed (udp and sctp cannot be probed reliably: a service need not answer)")
        }
        if !notes.isEmpty { out.append(Finding(.targets, .ok, notes.joined(separator: "; "))) }
        return out
    }
}
