import NetworkAddress
import NFTables

/// Which conntrack entries a committed change leaves on a stale path.
///
/// The kernel NATs a flow once, at its first packet; conntrack then sends every later packet
/// of the flow the same way until the entry expires, and a UDP entry expires only after 30 s
/// of silence (120 s once replies were seen). So a UDP client that keeps sending from the same
/// port never sees a change: after `rm` its datagrams keep going to the old target, and after
/// `add` a flow that began while nothing was published keeps going to the host itself, where
/// nothing answers (the long-standing Docker/CNI bug of a UDP stream black-holed after a
/// container was restarted or re-published). Deleting the entries of the flows to the changed
/// host ports makes the next datagram take the table's current path.
///
/// UDP only, on purpose: a TCP connection keeps its established path (removing or changing a
/// mapping does not cut the connections it carried, as `rm` of a published port never did),
/// and a new TCP connection never inherits an old entry (it comes from a new source port, and
/// conntrack replaces a closed entry when a SYN reuses its tuple).
enum StaleFlows {
    /// The UDP mappings among `changed` whose host ports the kernel path serves: relay-only
    /// mappings (loopback host address, IPv6 to IPv4) never had a DNATed flow.
    static func relevant(_ changed: [Mapping]) -> [Mapping] {
        changed.filter { $0.proto == .udp && !$0.isRelayOnly }
    }

    /// One filter per changed mapping: flows of its family and protocol to its host ports, on
    /// its host address, or for a mapping without one, on every non-loopback address of the
    /// host (`localAddresses`, asked at most once per family). Loopback destinations are left
    /// out: the kernel path never DNATs them, their flows belong to the relay. A flow whose
    /// replies already come from the target `published` (the mappings added by this change)
    /// names for its host port is spared: it began after the commit and takes the new path.
    static func filters(changed: [Mapping], published: [Mapping],
                        localAddresses: (IPAddress.Family) throws -> [IPAddress]) throws -> [ConntrackFilter] {
        struct HostPort: Hashable { var proto: Proto, family: IPAddress.Family, address: IPAddress?, port: UInt16 }
        var current: [HostPort: ConntrackPeer] = [:]
        for mapping in relevant(published) {
            for port in mapping.host.ports.ports {
                current[HostPort(proto: mapping.proto, family: mapping.hostFamily, address: mapping.host.address, port: port)] =
                    ConntrackPeer(address: mapping.target.address!, port: mapping.targetPort(for: port))
            }
        }
        var local: [IPAddress.Family: Set<IPAddress>] = [:]
        return try relevant(changed).map { mapping in
            let destinations: Set<IPAddress>
            if let address = mapping.host.address {
                destinations = [address]
            } else if let known = local[mapping.hostFamily] {
                destinations = known
            } else {
                let all = try localAddresses(mapping.hostFamily).filter { $0.family == mapping.hostFamily && !$0.isLoopback }
                destinations = Set(all)
                local[mapping.hostFamily] = destinations
            }
            var spared: [UInt16: ConntrackPeer] = [:]
            for port in mapping.host.ports.ports {
                spared[port] = current[HostPort(proto: mapping.proto, family: mapping.hostFamily, address: mapping.host.address, port: port)]
            }
            return ConntrackFilter(family: mapping.hostFamily, proto: mapping.proto.number,
                                   destinations: destinations, ports: Set(mapping.host.ports.ports), spared: spared)
        }
    }

    /// The UDP flows, of either family, that the publish rules labelled (`ct label set 100`):
    /// every flow a deleted table DNATed.
    static func labelledFilters() -> [ConntrackFilter] {
        [true, false].map {
            ConntrackFilter(family: $0 ? .ipv4 : .ipv6, proto: Proto.udp.number, labels: TableLayout.labelBits(TableLayout.publishedLabel))
        }
    }

    /// A host port of a deleted table's kernel path: family, host address (nil: every
    /// address) and port.
    struct DeletedPort: Hashable { var family: IPAddress.Family, address: IPAddress?, port: UInt16 }

    /// The UDP host ports that kernel-path map keys (`[address .] proto . port`, each field
    /// padded to 4 bytes) publish: what `flush` reads instead of decoding every mapping.
    static func udpHostPorts(_ keys: [(TableLayout.MapName, [UInt8])]) -> Set<DeletedPort> {
        var out = Set<DeletedPort>()
        for (map, key) in keys where map.isKernelPath && key.count >= 8 && key[key.count - 8] == Proto.udp.number {
            let port = UInt16(key[key.count - 4]) << 8 | UInt16(key[key.count - 3])
            out.insert(DeletedPort(family: map.hostFamily, address: map.keyedByAddress ? IPAddress(bytes: key[..<(key.count - 8)]) : nil, port: port))
        }
        return out
    }

    /// `5000-5002, 192.0.2.10:5353/udp` (runs of ports joined), or a count when that would
    /// be long: the deleted table's side of the trace and warning.
    static func describe(_ ports: Set<DeletedPort>) -> String {
        var runs: [String] = []
        let sorted = ports.sorted { a, b in
            if a.family != b.family { return a.family < b.family }
            if a.address != b.address {
                guard let x = a.address else { return true }   // every address first
                guard let y = b.address else { return false }
                return x < y
            }
            return a.port < b.port
        }
        var i = 0
        while i < sorted.count && runs.count <= 8 {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1].family == sorted[i].family, sorted[j + 1].address == sorted[i].address,
                  sorted[j + 1].port == sorted[j].port + 1 { j += 1 }
            var host = sorted[i].port == sorted[j].port ? "\(sorted[i].port)" : "\(sorted[i].port)-\(sorted[j].port)"
            if let a = sorted[i].address { host = "\(a.bracketed):\(host)" }
            runs.append(host)
            i = j + 1
        }
        return runs.count > 8 ? "\(ports.count) published host ports/udp" : runs.joined(separator: ", ") + "/udp"
    }

    /// The filters `filters(changed:)` gives for every UDP mapping of a deleted table: one per
    /// family and host address, with all of its ports (nothing is spared: no path is left).
    static func filters(deleted ports: Set<DeletedPort>,
                        localAddresses: (IPAddress.Family) throws -> [IPAddress]) throws -> [ConntrackFilter] {
        struct Destination: Hashable { var family: IPAddress.Family, address: IPAddress? }
        var grouped: [Destination: Set<UInt16>] = [:]
        for p in ports { grouped[Destination(family: p.family, address: p.address), default: []].insert(p.port) }
        return try grouped.map { destination, ports in
            let destinations: Set<IPAddress>
            if let address = destination.address {
                destinations = [address]
            } else {
                let all = try localAddresses(destination.family).filter { $0.family == destination.family && !$0.isLoopback }
                destinations = Set(all)
            }
            return ConntrackFilter(family: destination.family, proto: Proto.udp.number,
                                   destinations: destinations, ports: ports)
        }
    }

    /// The host's addresses of `family`, as the kernel reports them.
    static func interfaceAddresses(_ family: IPAddress.Family) throws -> [IPAddress] {
        try InterfaceAddresses.list(family)
    }

    /// `5000/udp` or `5000, 192.0.2.10:5353/udp`: the host side of the mappings, for messages.
    static func describe(_ mappings: [Mapping]) -> String {
        // A set beside the list: 100,000 mappings made the linear `contains` quadratic.
        var seen: [String] = [], known = Set<String>()
        for m in mappings where known.insert(m.hostText).inserted { seen.append(m.hostText) }
        return seen.joined(separator: ", ") + "/udp"
    }
}
