import NetworkAddress
import NFTables

extension TableReader {
    /// `published` with their allow-lists and drop counters, read from the access sets and
    /// checked element by element against the mapping each comment names: `restrict` and
    /// `refuse` must hold every host port of the mapping, `allow` one range per network, each
    /// exactly as nftfwd writes it; an element naming no mapping of `published` is foreign.
    /// `published` must be every mapping of the table. `match` must hold exactly the
    /// expansion of each allow-list (`matchSets: false` for a 0.3 table, which has none).
    func withAccessLists(_ published: [PublishedMapping], matchSets: Bool = true) throws(PublishError) -> [PublishedMapping] {
        func foreign(_ problem: String) -> PublishError { .foreign(table: layout.table.name, problem: problem) }
        var index: [String: Int] = [:]
        for (i, p) in published.enumerated() { index[TableLayout.elementComment(for: p.mapping)] = i }
        var ports: [TableLayout.AccessSet.Role: [Int: Set<UInt16>]] = [:]
        var allow: [Int: [Subnet]] = [:]
        var matched: [Int: Set<[UInt8]>] = [:]
        var out = published
        for set in TableLayout.AccessSet.allCases where matchSets || set.role != .match {
            for record in try nft.elements(of: layout.table, map: set.name) {
                let describe = "element \(hex(record.key)) of set \(set.name)"
                if set.role == .match {
                    guard let comment = record.comment, let i = index[comment], published[i].mapping.hostFamily == set.family,
                          (published[i].mapping.host.address != nil) == set.bound else {
                        throw foreign("\(describe) belongs to no mapping of the table")
                    }
                    // The set's name is part of the key: a /24 element in the /16 set is not ours.
                    guard matched[i, default: []].insert(Array(set.name.utf8) + [0] + record.key).inserted else {
                        throw foreign("\(describe) was listed twice")
                    }
                    continue
                }
                guard let comment = record.comment, let i = index[comment], TableLayout.AccessSet.of(published[i].mapping, set.role) == set else {
                    throw foreign("\(describe) belongs to no mapping of the table")
                }
                let mapping = published[i].mapping
                if set.role == .allow {
                    guard let subnet = TableReader.allowedSubnet(record, for: mapping) else {
                        throw foreign("\(describe) does not match its comment \"\(Untrusted.escape(comment))\"")
                    }
                    allow[i, default: []].append(subnet)
                    continue
                }
                guard let port = TableReader.port(of: record.key, for: mapping), record.key == TableLayout.accessKey(for: mapping, port: port) else {
                    throw foreign("\(describe) does not match its comment \"\(Untrusted.escape(comment))\"")
                }
                guard ports[set.role, default: [:]][i, default: []].insert(port).inserted else { throw foreign("\(describe) was listed twice") }
                if set.role == .refuse {
                    out[i].refusedPackets &+= record.packets
                    out[i].refusedBytes &+= record.bytes
                }
            }
        }
        let restricted = Set(allow.keys).union(ports[.restrict]?.keys ?? [:].keys).union(ports[.refuse]?.keys ?? [:].keys)
        for i in restricted {
            let mapping = published[i].mapping
            for role in [TableLayout.AccessSet.Role.restrict, .refuse] where ports[role]?[i]?.count != mapping.host.ports.count {
                throw foreign("mapping \(mapping.label) has \(ports[role]?[i]?.count ?? 0) of its \(mapping.host.ports.count) elements in set \(TableLayout.AccessSet.of(mapping, role).name)")
            }
            guard let subnets = allow[i] else { throw foreign("mapping \(mapping.label) is restricted but has no element in set \(TableLayout.AccessSet.of(mapping, .allow).name)") }
            do throws(MappingError) {
                out[i].mapping = try mapping.allowing(subnets)
            } catch {
                throw foreign("the allow-list of \(mapping.label) in set \(TableLayout.AccessSet.of(mapping, .allow).name) is not one nftfwd writes: \(error)")
            }
            guard matchSets else { continue }
            let expected = Set(TableLayout.accessElements(for: out[i].mapping).filter { $0.set.role == .match }
                .map { Array($0.set.name.utf8) + [0] + $0.element.key })
            guard matched[i] ?? [] == expected else {
                throw foreign("the match elements of \(mapping.label) are not the expansion of its allow-list \(subnets.map(\.description).joined(separator: ", "))")
            }
        }
        if let stray = Set(matched.keys).subtracting(restricted).first {
            throw foreign("mapping \(published[stray].mapping.label) has match elements but no allow-list")
        }
        return out
    }

    /// `mappings` with their allow-lists, for the few mappings `add` and `rm` look at: one
    /// point lookup of each one's first port in `restrict`, then, for those restricted, the
    /// ranges of `allow` that carry their comment.
    public func withAccessLists(_ mappings: [Mapping]) throws(PublishError) -> [Mapping] {
        var out = mappings
        var allowRecords: [TableLayout.AccessSet: [ElementRecord]] = [:]
        for (i, mapping) in mappings.enumerated() {
            let restrict = TableLayout.AccessSet.of(mapping, .restrict)
            let key = TableLayout.accessKey(for: mapping, port: mapping.host.ports.first)
            let comment = TableLayout.elementComment(for: mapping)
            guard let found = try nft.lookup([key], in: layout.table, map: restrict.name).first, let record = found,
                  record.comment == comment else { continue }
            let allowSet = TableLayout.AccessSet.of(mapping, .allow)
            if allowRecords[allowSet] == nil { allowRecords[allowSet] = try nft.elements(of: layout.table, map: allowSet.name) }
            let subnets = allowRecords[allowSet]!.filter { $0.comment == comment }.compactMap { TableReader.allowedSubnet($0, for: mapping) }
            if let restricted = try? mapping.allowing(subnets), !subnets.isEmpty { out[i] = restricted }
        }
        return out
    }

    /// The network an `allow` element admits, if it is exactly the element nftfwd writes for
    /// `mapping` and that network.
    static func allowedSubnet(_ record: ElementRecord, for mapping: Mapping) -> Subnet? {
        let width = mapping.hostFamily == .ipv4 ? 4 : 16
        guard record.key.count > width, record.keyEnd.count == record.key.count else { return nil }
        let start = Array(record.key.prefix(width)), last = Array(record.keyEnd.prefix(width))
        let network = IPAddress(bytes: start)
        for prefix in 0...(width * 8) {
            let subnet = Subnet(network: network, prefixLength: prefix)
            guard Subnet.mask(start, prefix) == start, subnet.last == last else { continue }
            let element = TableLayout.allowElement(for: mapping, subnet: subnet)
            return element.key == record.key && element.keyEnd == record.keyEnd && prefix > 0 ? subnet : nil
        }
        return nil
    }
}
