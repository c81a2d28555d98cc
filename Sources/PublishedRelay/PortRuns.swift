import NFTRelay
import NetworkAddress
import PortForwarding

/// Consecutive relay ports of one mapping, logged as one line: a mapping of a 10,000-port
/// range is served by 10,000 listeners, but "serving" or "stopped" is said once for it.
struct PortRun: Equatable, CustomStringConvertible {
    var first: RelayPort
    var last: RelayPort

    /// `0.0.0.0:8000-8999/tcp -> 10.0.0.2:9000-9999`, or the plain form for one port.
    var description: String {
        guard first != last else { return "\(first.listen)/\(first.proto) -> \(first.target)" }
        return "\(first.listen)-\(last.listen.port)/\(first.proto) -> \(first.target)-\(last.target.port)"
    }

    /// Just the listening side: `0.0.0.0:8000-8999/tcp`.
    var listenDescription: String {
        first == last ? "\(first.listen)/\(first.proto)" : "\(first.listen)-\(last.listen.port)/\(first.proto)"
    }

    var mapping: String { first.mapping }
    var count: Int { Int(last.listen.port) - Int(first.listen.port) + 1 }

    /// Groups `ports` (sorted here by mapping, protocol, address and port) into runs: the
    /// same mapping, protocol and addresses, listen and target ports each one above the last.
    static func runs(_ ports: [RelayPort]) -> [PortRun] {
        let sorted = ports.sorted { a, b in
            if a.mapping != b.mapping { return a.mapping < b.mapping }
            if a.proto != b.proto { return a.proto.rawValue < b.proto.rawValue }
            if a.listen.ip != b.listen.ip { return a.listen.ip.description < b.listen.ip.description }
            return a.listen.port < b.listen.port
        }
        var runs: [PortRun] = []
        for port in sorted {
            if let last = runs.last?.last, last.mapping == port.mapping, last.proto == port.proto,
               last.listen.ip == port.listen.ip, last.target.ip == port.target.ip,
               Int(last.listen.port) + 1 == Int(port.listen.port), Int(last.target.port) + 1 == Int(port.target.port) {
                runs[runs.count - 1].last = port
            } else {
                runs.append(PortRun(first: port, last: port))
            }
        }
        return runs
    }
}

extension PortRun {
    /// A mapping's ports as one run (its first and last port alone, never the ports between),
    /// for the lines of mappings served through the loopback redirect.
    static func of(_ mapping: Mapping) -> PortRun {
        let address = mapping.host.address ?? .unspecified(mapping.hostFamily)
        let targetAddress = mapping.target.address ?? address
        func port(_ p: UInt16) -> RelayPort {
            RelayPort(mapping: mapping.label, proto: mapping.proto == .udp ? .udp : .tcp, listen: SocketAddress(ip: address, port: p),
                      target: SocketAddress(ip: targetAddress, port: mapping.targetPort(for: p)))
        }
        return PortRun(first: port(mapping.host.ports.first), last: port(mapping.host.ports.last))
    }
}
