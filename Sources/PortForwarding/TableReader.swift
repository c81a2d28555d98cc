import NFTables

/// A mapping as the kernel holds it, with the counters of its elements summed.
public struct PublishedMapping: Sendable, Equatable {
    public var mapping: Mapping
    public var map: TableLayout.MapName
    public var packets: UInt64
    public var bytes: UInt64
    /// New connections the allow-list refused (the `refuse` set's counters): 0 without one.
    public var refusedPackets: UInt64 = 0
    public var refusedBytes: UInt64 = 0
    public init(mapping: Mapping, map: TableLayout.MapName, packets: UInt64, bytes: UInt64) {
        self.mapping = mapping; self.map = map; self.packets = packets; self.bytes = bytes
    }
}

/// What the table holds right now, and the ruleset generation it was read at.
public struct TableSnapshot: Sendable {
    public var exists: Bool
    public var generation: UInt32
    public var mappings: [PublishedMapping]
    public var masquerade: [MasqueradeRule] = []
    /// What the table lacks because an earlier nftfwd wrote it (see `TableUpgrade`).
    public var upgrade = TableUpgrade()
    public init(exists: Bool, generation: UInt32, mappings: [PublishedMapping], masquerade: [MasqueradeRule] = []) {
        self.exists = exists; self.generation = generation; self.mappings = mappings; self.masquerade = masquerade
    }
}

/// The table exists but holds something nftfwd did not write, so nftfwd refuses to guess.
public struct ForeignTableError: Error, Sendable, CustomStringConvertible {
    public var table: String
    public var problem: String
    public var description: String {
        "table inet \(table) was changed outside nftfwd: \(problem). Inspect it with 'nft list table inet \(table)'; 'nftfwd flush' removes it (and every mapping in it)"
    }
}

/// The ruleset changed during each of several reads of the table, so none of them says what
/// it holds (something rewrites the ruleset without pause).
public struct TableMovingError: Error, Sendable, CustomStringConvertible {
    public var table: String
    public var attempts: Int
    public var description: String {
        "table inet \(table) could not be read: the ruleset changed during each of \(attempts) reads (something rewrites it without pause; 'nft monitor' shows what)"
    }
}

/// Reads an nftfwd table back from the kernel and turns its elements into mappings.
/// The kernel is the record; a saved file (`nftfwd save`) is only ever written from it.
public struct TableReader {
    public let layout: TableLayout
    /// The kernel, or a stand-in (`NFTablesFake`).
    public let session: any NFTablesSession
    var nft: Kernel { Kernel(session) }
    /// The relay's reading: a map of more elements than this is scanned, not dumped
    /// (`TableReader+Scan`), which checks less than the whole dump and sums no counters.
    /// nil (everything but the relay): every map is dumped.
    public var scanningMapsAbove: Int?

    /// Where a fingerprint of rules found to be today's is kept (nil: every check is full).
    public var verifiedRules: VerifiedRules?

    public init(layout: TableLayout, session: any NFTablesSession, scanningMapsAbove: Int? = nil, verifiedRules: VerifiedRules? = nil) {
        self.layout = layout
        self.session = session
        self.scanningMapsAbove = scanningMapsAbove
        self.verifiedRules = verifiedRules
    }

    /// The whole table, consistent: the maps are read in several dumps, so a read is kept only
    /// if the ruleset generation is the same after it as before. Otherwise it starts over (a
    /// few times at most): a table deleted or replaced during the read (a firewall reload)
    /// fails a dump (ENOENT), reads as half of each, or reads as missing, none of which says
    /// what the table holds at the generation the snapshot would be labelled with. Every
    /// outcome is checked so, "missing" too: a table deleted right after the generation was
    /// read used to be reported missing *at the generation that still had it*, which made the
    /// relay's restorer believe its own restore had not taken.
    public func snapshot() throws(PublishError) -> TableSnapshot {
        for attempt in 1...TableReader.maxAttempts {
            let generation = try nft.generation()
            let read = Result { () throws(PublishError) in try snapshot(at: generation) }
            if (try? nft.generation()) == generation { return try read.get() }
            if attempt == TableReader.maxAttempts, case .failure(let error) = read { throw error }
        }
        throw .tableMoving(TableMovingError(table: layout.table.name, attempts: TableReader.maxAttempts))
    }

    /// How many reads `snapshot()` tries before it gives up on a ruleset that moves during each.
    static let maxAttempts = 10

    /// One read, labelled with the generation read just before it; `snapshot()` checks the label.
    private func snapshot(at generation: UInt32) throws(PublishError) -> TableSnapshot {
        guard try nft.tableExists(layout.table) else {
            return TableSnapshot(exists: false, generation: generation, mappings: [])
        }
        let upgrade = try verifyStructure()
        var mappings: [PublishedMapping] = []
        for name in TableLayout.MapName.allCases {
            if let limit = scanningMapsAbove { mappings += try relayMappings(in: name, dumpingAtMost: limit) } else { mappings += try self.mappings(in: name) }
        }
        // A table from before masquerade has none; one from before allow-lists, no allow-list.
        let masquerade = upgrade.hasMasqueradeSets ? try masqueradeRules() : []
        if upgrade.hasAccessSets { mappings = try withAccessLists(mappings, matchSets: upgrade.hasMatchSets) }
        var snapshot = TableSnapshot(exists: true, generation: generation, mappings: mappings.sorted { $0.mapping < $1.mapping },
                                     masquerade: masquerade)
        snapshot.upgrade = upgrade
        return snapshot
    }

    /// Every mapping of one map.
    public func mappings(in map: TableLayout.MapName) throws(PublishError) -> [PublishedMapping] {
        try decode(try nft.elements(of: layout.table, map: map.rawValue), in: map, complete: true)
    }

    /// The mappings owning any of `keys` in `map`, found by point lookups (one round trip),
    /// so the cost does not grow with the number of published ports. Without their
    /// allow-lists: `withAccessLists` adds those.
    public func mappings(owning keys: [[UInt8]], in map: TableLayout.MapName) throws(PublishError) -> [Mapping] {
        let found = try nft.lookup(keys, in: layout.table, map: map.rawValue).compactMap { $0 }
        return try decode(found, in: map, complete: false).map(\.mapping)
    }

    /// Today's rules by chain, with the records a listing is compared with. Built once per
    /// process: every `add` and every publishing nftfwd-proxy (at its start and again at its
    /// exit) comes here.
    /// An array searched by name, not a Dictionary: a String-keyed one costs the runtime a scan
    /// of every conformance in the binary on first use (callgrind), more than the search.
    static let written: [(chain: String, rules: [(rule: RuleSpec, what: String)], records: [[ExpressionRecord]])] = {
        var byChain: [(chain: String, rules: [(rule: RuleSpec, what: String)], records: [[ExpressionRecord]])] = []
        for entry in TableLayout.rules {
            let record = entry.rule.expressions.map(\.record)
            if let i = byChain.firstIndex(where: { $0.chain == entry.rule.chain }) {
                byChain[i].rules.append(entry)
                byChain[i].records.append(record)
            } else {
                byChain.append((entry.rule.chain, [entry], [record]))
            }
        }
        return byChain
    }()

    /// `written`'s rules and records of `chain`, none for a chain without rules.
    static func written(in chain: String) -> (rules: [(rule: RuleSpec, what: String)], records: [[ExpressionRecord]]) {
        guard let entry = written.first(where: { $0.chain == chain }) else { return ([], []) }
        return (entry.rules, entry.records)
    }

    /// Checks that chains, maps and rules are exactly those nftfwd creates, comparing each rule
    /// expression the kernel lists, attribute by attribute (`ExpressionRecord`: every kind
    /// nftfwd writes has a case of its own that holds each attribute libnftnl would print,
    /// `ExpressionRecordTests`), with the one we would write. A table written
    /// by an earlier nftfwd passes, lacking only what was added since: that is returned, for
    /// the next change to add (`TableLayout.upgrade`); anything else is foreign.
    @discardableResult
    public func verifyStructure() throws(PublishError) -> TableUpgrade {
        let name = layout.table.name
        func foreign(_ problem: String) -> PublishError { .foreign(table: name, problem: problem) }
        var upgrade = TableUpgrade()

        let chains = try nft.chains(of: layout.table)
        for chain in chains where !TableLayout.chains.contains(where: { $0.name == chain.name }) {
            throw foreign("it has a chain '\(Untrusted.escape(chain.name))' nftfwd does not create")
        }
        var expectedChains: [ChainSpec] = []
        for expected in TableLayout.chains {
            guard let chain = chains.first(where: { $0.name == expected.name }) else {
                guard TableUpgrade.addedChains.contains(expected.name) else { throw foreign("chain '\(expected.name)' is missing") }
                upgrade.chains.append(expected)
                continue
            }
            expectedChains.append(expected)
            if let base = expected.base {
                guard chain.type == base.type, chain.hook == base.hook.kernelValue, chain.priority == base.priority else {
                    throw foreign("chain '\(expected.name)' has another type, hook or priority")
                }
                guard chain.policy == base.kernelPolicy else {
                    throw foreign("chain '\(expected.name)' has another policy")
                }
            } else if chain.hook != nil {
                throw foreign("chain '\(expected.name)' should not be a base chain")
            }
        }

        let sets = try nft.sets(of: layout.table)
        let specs = TableLayout.MapName.allCases.map(TableLayout.mapSpec) + TableLayout.MasqueradeSet.allCases.map(TableLayout.setSpec)
            + TableLayout.AccessSet.allCases.map(TableLayout.setSpec) + TableLayout.RedirectMap.allCases.map(TableLayout.setSpec)
        for set in sets where !specs.contains(where: { $0.name == set.name }) {
            throw foreign("it has a set or map '\(Untrusted.escape(set.name))' nftfwd does not create")
        }
        for spec in specs {
            let kind = spec.isMap ? "map" : "set"
            guard let set = sets.first(where: { $0.name == spec.name }) else {
                guard TableUpgrade.addedSets.contains(spec.name) else { throw foreign("\(kind) '\(spec.name)' is missing") }
                upgrade.sets.append(spec)
                continue
            }
            let dataMatches = !spec.isMap || (set.dataType == DataType.concat(spec.value) && set.dataLength == UInt32(spec.valueLength))
            guard set.keyType == DataType.concat(spec.key), set.keyLength == UInt32(spec.keyLength), dataMatches,
                  set.flags == spec.kernelFlags else {
                throw foreign("\(kind) '\(spec.name)' has another key or value type, or other flags")
            }
        }

        // Rules a full check of this binary accepted before, byte for byte, are not parsed
        // or compared again (`VerifiedRules`); only a check that finds them exactly today's,
        // with nothing to upgrade anywhere, vouches for a fingerprint.
        let known = verifiedRules?.load()
        let read = try nft.rules(of: layout.table, unlessFingerprint: known)
        let rules = read.rules ?? []
        for chain in expectedChains where read.rules != nil {
            let (expected, wanted) = TableReader.written(in: chain.name)
            let actual = rules.filter { $0.chain == chain.name }
            let have = actual.map(\.values)
            // An earlier form of the publish rules: read as it is, replaced by the next change.
            // Looked for only when the rules are not today's (the usual case): no earlier form
            // lists as today's does (TableUpgradeFormTests), so the order changes no outcome.
            if chain.name == TableLayout.publishChain, have != wanted,
               let form = TableUpgrade.PublishForm.earlier.first(where: { form in
                   have == TableUpgrade.publishRules(form).filter { $0.rule.chain == chain.name }.map { $0.rule.expressions.map(\.record) }
               }) {
                upgrade.publishRuleHandles = actual.map(\.handle)
                upgrade.publishForm = form
                continue
            }
            // Layout 0.4's loopback chain (TCP only): read as it is, the UDP rules appended by the next change.
            if chain.name == TableLayout.loopbackChain, have != wanted,
               have == TableLayout.redirectRules04.map({ $0.rule.expressions.map(\.record) }) {
                upgrade.loopbackUDPMissing = true
                continue
            }
            guard actual.count == expected.count else {
                throw foreign("chain '\(chain.name)' has \(actual.count) rules where nftfwd wrote \(expected.count)")
            }
            for ((have, want), record) in zip(zip(actual, expected), wanted) where have.values != record {
                throw foreign("rule \(have.handle) of chain '\(chain.name)' is not '\(want.what)'")
            }
        }
        if upgrade.publishForm == .version03 || upgrade.publishForm == .nftReloaded03, upgrade.isWholeStep {
            // The source lookups move from the range sets to the match sets: fill them from the allow-lists.
            for set in TableLayout.AccessSet.allCases where set.role == .allow {
                for record in try nft.elements(of: layout.table, map: set.name) {
                    guard let (match, elements) = TableLayout.matchElements(fromAllow: record, in: set) else {
                        throw foreign("element \(hex(record.key)) of set \(set.name) is not one nftfwd writes")
                    }
                    upgrade.elements += elements.map { (set: match.name, element: $0) }
                }
            }
        }
        // An earlier layout lacks all of the later additions, never some of them.
        if !upgrade.isEmpty && !upgrade.isWholeStep {
            let missing = upgrade.chains.map { "chain '\($0.name)'" } + upgrade.sets.map { "set '\($0.name)'" }
            if missing.isEmpty { throw foreign("chain 'publish' has nftfwd 0.1's rules in a table of a later layout") }
            throw foreign("\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") missing")
        }
        if upgrade.isEmpty && read.rules != nil && !read.fingerprint.isEmpty { verifiedRules?.store(read.fingerprint) }
        return upgrade
    }

    /// Turns one map's elements into mappings, checking each element against the mapping its
    /// comment names: key and value must be exactly what nftfwd would have written, and a
    /// mapping must have an element for every one of its ports.
    /// With `complete`, `records` is the whole map and every mapping must have all its ports.
    func decode(_ records: [ElementRecord], in map: TableLayout.MapName, complete: Bool) throws(PublishError) -> [PublishedMapping] {
        var entries: [DecodedMapping] = []
        // By comment, for a large read. The few elements of an add's or rm's lookups are
        // matched by a linear search instead: the first Dictionary keyed by String a process
        // creates costs a scan of every protocol conformance in the binary (about 5% of an
        // `add`, measured with perf), far more than comparing a handful of comments.
        var index: [String: Int]? = records.count > DecodedMapping.linearSearchLimit ? [:] : nil
        for record in records {
            // Formatted only for an error: 100,000 hex strings cost more than the decoding.
            var describe: String { "element \(hex(record.key)) of map \(map.rawValue)" }
            guard let comment = record.comment else {
                throw PublishError.foreign(table: layout.table.name, problem: "\(describe) has no nftfwd comment")
            }
            let found = index != nil ? index![comment] : entries.firstIndex { $0.comment == comment }
            let at: Int
            if let found {
                at = found
            } else {
                guard let mapping = TableReader.parseComment(comment, map: map) else {
                    throw PublishError.foreign(table: layout.table.name, problem: "\(describe) has a comment nftfwd cannot read: \"\(Untrusted.escape(comment))\"")
                }
                at = entries.count
                entries.append(DecodedMapping(comment: comment, mapping: mapping))
                index?[comment] = at
            }
            let mapping = entries[at].mapping
            guard let port = TableReader.port(of: record.key, for: mapping),
                  record.key == TableLayout.key(for: mapping, port: port),
                  record.value == TableLayout.value(for: mapping, port: port) else {
                throw PublishError.foreign(table: layout.table.name, problem: "\(describe) does not match its comment \"\(Untrusted.escape(comment))\"")
            }
            guard entries[at].ports.insert(port).inserted else {
                throw PublishError.foreign(table: layout.table.name, problem: "\(describe) was listed twice")
            }
            entries[at].packets &+= record.packets
            entries[at].bytes &+= record.bytes
        }
        return try entries.map { (entry) throws(PublishError) in
            guard !complete || entry.ports.count == entry.mapping.host.ports.count else {
                throw PublishError.foreign(table: layout.table.name,
                                        problem: "mapping \(entry.mapping.label) has \(entry.ports.count) of its \(entry.mapping.host.ports.count) elements in map \(map.rawValue)")
            }
            return PublishedMapping(mapping: entry.mapping, map: map, packets: entry.packets, bytes: entry.bytes)
        }
    }

    /// `HOST/PROTO -> TARGET[ # COMMENT]` back into a mapping that belongs in `map`.
    static func parseComment(_ text: String, map: TableLayout.MapName) -> Mapping? {
        var label = Substring(text), user = ""
        if let hash = text.range(of: " # ") {
            label = text[..<hash.lowerBound]
            user = String(text[hash.upperBound...])
        }
        guard let arrow = label.range(of: " -> ") else { return nil }
        let left = label[..<arrow.lowerBound]
        var target = label[arrow.upperBound...]
        var proxy: ProxyProtocol?
        if let word = target.range(of: ProxyProtocol.labelWord) {
            guard let version = ProxyProtocol(rawValue: String(target[word.upperBound...])) else { return nil }
            proxy = version
            target = target[..<word.lowerBound]
        }
        guard let slash = left.lastIndex(of: "/") else { return nil }
        let host = left[..<slash], proto = left[left.index(after: slash)...]
        guard let parsed = try? Mapping.parse(host: String(host), target: String(target), proto: String(proto), comment: user, rule: .stored),
              let mapping = try? parsed.proxying(proxy),
              TableLayout.map(for: mapping) == map, TableLayout.elementComment(for: mapping) == text else { return nil }
        return mapping
    }

    /// The host port a key encodes, if it lies in the mapping's range.
    static func port(of key: [UInt8], for mapping: Mapping) -> UInt16? {
        guard key.count >= 4 else { return nil }
        let port = UInt16(key[key.count - 4]) << 8 | UInt16(key[key.count - 3])
        return mapping.host.ports.ports.contains(port) ? port : nil
    }

    func hex(_ bytes: [UInt8]) -> String {
        "0x" + bytes.map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
    }
}

extension String {
    /// First occurrence of `needle` (no Foundation).
    func range(of needle: String) -> Range<String.Index>? { Substring(self).range(of: needle) }
}

extension Substring {
    /// Searches the UTF-8 bytes: a Character-by-Character search was a fifth of reading
    /// 10,000 comments. The needle is whole scalars, so a match starts on a scalar boundary.
    func range(of needle: String) -> Range<String.Index>? {
        let bytes = Array(needle.utf8)
        guard let first = bytes.first else { return nil }
        let hay = utf8
        var i = hay.startIndex
        while let found = hay[i...].firstIndex(of: first) {
            if hay[found...].starts(with: bytes) { return found..<hay.index(found, offsetBy: bytes.count) }
            i = hay.index(after: found)
        }
        return nil
    }
}

/// One mapping as `TableReader.decode` assembles it from its elements, in the order their
/// comments first appear.
struct DecodedMapping {
    /// Up to this many elements, comments are matched by a linear search, not a Dictionary.
    static let linearSearchLimit = 32
    let comment: String
    let mapping: Mapping
    var ports: Set<UInt16> = []
    var packets: UInt64 = 0
    var bytes: UInt64 = 0
}
