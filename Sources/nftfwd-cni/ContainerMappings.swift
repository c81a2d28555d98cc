import PortForwarding
import NetworkAddress

/// The nftfwd mappings of a container's `portMappings`, as portmap maps them: a host address
/// maps to the container's address of its family; no host address maps to each of the
/// container's families (so an IPv4 and IPv6 container answers on both). A mapping whose family
/// the container lacks is left out, with a note (portmap skips it too).
enum ContainerMappings {
    static func make(_ config: NetworkConfig, _ addresses: ContainerAddresses, owner: String,
                     note: (String) -> Void) throws(CNIError) -> [Mapping] {
        var out: [Mapping] = []
        for entry in config.portMappings {
            let families: [IPAddress.Family] = entry.hostIP.map { [$0.family] } ?? [.ipv4, .ipv6]
            var any = false
            for family in families {
                guard let target = addresses.address(family) else { continue }
                any = true
                // 0.0.0.0 and :: mean every address of their family, the target's here.
                let hostAddress = entry.hostIP.flatMap { $0.isUnspecified ? nil : $0 }
                do {
                    out.append(try Mapping(proto: entry.proto, host: Endpoint(address: hostAddress, ports: PortRange(entry.hostPort)),
                                           target: Endpoint(address: target, ports: PortRange(entry.containerPort)), comment: owner))
                } catch {
                    throw NetworkConfig.invalid("port mapping \(describe(entry)): \(error)")
                }
            }
            if !any {
                note("port mapping \(describe(entry)) skipped: the container has no \(families == [.ipv6] ? "IPv6" : families == [.ipv4] ? "IPv4" : "IP") address in prevResult")
            }
        }
        // The same mapping given twice is one mapping (portmap would write its rules twice).
        var seen: Set<Mapping> = []
        return out.filter { seen.insert($0).inserted }
    }

    static func describe(_ entry: NetworkConfig.PortMapping) -> String {
        let host = entry.hostIP.map { "\($0.bracketed):" } ?? ""
        return "\(host)\(entry.hostPort)/\(entry.proto) -> \(entry.containerPort)"
    }
}
