import NFTables

extension TableReader {
    /// Elements a map may hold and still be dumped by the relay. The dump costs the kernel
    /// about 1.4e-10 s x N² (2 s for 120,000 elements, see `NFTables.elements(of:map:stoppingWhen:)`),
    /// 0.15 s for this many; the scan, at most 0.45 s (2.2 µs per lookup, 196,608 lookups when
    /// no mapping covers a port), about 0.2 s for 60,000-port tcp and udp ranges.
    public static let relayDumpLimit = 32768

    /// One map's mappings for the relay: dumped while the map can be seen to be small; a
    /// larger map keyed by protocol and port alone (`dnat4_any`, `dnat6_any`, where
    /// wildcard ranges live) is scanned by point lookups instead, whose cost is linear (one
    /// lookup per port no mapping covers, a few per mapping). Anything the scan finds amiss
    /// is read by the whole dump, whose checks name the problem.
    ///
    /// The dump stops as soon as the map is known to hold more than `limit` elements: the
    /// mappings its elements so far name have that many ports between them (each port of a
    /// mapping is an element), which one reply of a 60,000-port range shows, or that many
    /// elements have arrived.
    func relayMappings(in map: TableLayout.MapName, dumpingAtMost limit: Int) throws(PublishError) -> [PublishedMapping] {
        var sizes: [String: Int] = [:]   // ports of each mapping seen, by its comment
        var known = 0, counted = 0
        let enough = { (records: [ElementRecord]) -> Bool in
            if records.count > limit { return true }
            for record in records[counted...] {
                guard let comment = record.comment, sizes[comment] == nil else { continue }
                let ports = TableReader.parseComment(comment, map: map)?.host.ports.count ?? 1
                sizes[comment] = ports
                known += ports
            }
            counted = records.count
            return known > limit
        }
        if let records = try nft.elements(of: layout.table, map: map.rawValue, stoppingWhen: enough) {
            return try decode(records, in: map, complete: true)
        }
        if !map.keyedByAddress, let scanned = try scan(map) { return scanned }
        return try mappings(in: map)
    }

    /// Looks every port of every protocol up, 256 in one round trip, and takes an element
    /// found for the mapping its comment names, if it is that mapping's first port: the
    /// mapping's other ports are then not looked up, only its last (all of them are checked
    /// by `nftfwd ls` and every change; the relay needs the mappings). What the scan cannot
    /// vouch for (an element that is not its mapping's first, a last port missing) gives nil.
    /// Without counters: the relay's plan does not use them (its metrics dump the table).
    private func scan(_ map: TableLayout.MapName) throws(PublishError) -> [PublishedMapping]? {
        var found: [Mapping] = []
        for proto in Proto.allCases {
            var port = 0
            while port <= 65535 {
                let end = min(port + 255, 65535)
                let keys = (port...end).map { TableLayout.key(address: nil, proto: proto, port: UInt16($0)) }
                let records = try nft.lookup(keys, in: layout.table, map: map.rawValue)
                var next = end + 1
                var skipUntil = port
                for (offset, record) in records.enumerated() {
                    let at = port + offset
                    guard let record, at >= skipUntil else { continue }
                    guard let mapping = try decode([record], in: map, complete: false).first?.mapping,
                          mapping.proto == proto, Int(mapping.host.ports.first) == at else { return nil }
                    found.append(mapping)
                    skipUntil = Int(mapping.host.ports.last) + 1
                    next = max(next, skipUntil)
                }
                port = next
            }
        }
        // Each mapping's last port, in one pipelined lookup: the range the comment names ends there.
        let multi = found.filter { !$0.host.ports.isSingle }
        let lasts = try nft.lookup(multi.map { TableLayout.key(for: $0, port: $0.host.ports.last) }, in: layout.table, map: map.rawValue)
        for (mapping, record) in zip(multi, lasts) {
            guard let record, (try? decode([record], in: map, complete: false).first?.mapping) == mapping else { return nil }
        }
        return found.map { PublishedMapping(mapping: $0, map: map, packets: 0, bytes: 0) }
    }
}
