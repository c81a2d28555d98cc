import NetworkAddress

#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import NFTables

/// The operations of the CLI, each one netlink batch against the kernel table.
///
/// Every operation reads the table (and the ruleset generation) from the kernel, computes the
/// change, and commits it in one batch that carries the generation: if anyone changed the
/// ruleset in between, the kernel refuses the batch (ERESTART) and the operation starts over
/// from a fresh read. A refused batch changes nothing.
///
/// Concurrency model: one instance per thread (it owns a netlink socket).
public final class Publisher {
    public let layout: TableLayout
    /// The kernel (`NFTables`), or a stand-in for it in tests (`NFTablesFake`).
    public let session: any NFTablesSession
    var nft: Kernel { Kernel(session) }
    public var reader: TableReader { TableReader(layout: layout, session: session, verifiedRules: verifiedRules) }

    /// Where the reader keeps the fingerprint of rules it found to be today's
    /// (`VerifiedRules`); nil: every check of the table's structure parses its rules.
    public var verifiedRules: VerifiedRules?

    /// The ruleset generation our last committed batch produced: a later read at the same
    /// generation sees exactly what we wrote.
    public private(set) var lastCommittedGeneration: UInt32?

    /// Where `apply` keeps the record that lets the next apply of the same file skip reading
    /// the table (`ApplyRecords`); nil: every apply reads it.
    public var applyRecords: ApplyRecords?

    /// Where commands keep the record that lets the next one skip checking the table's
    /// structure (`LayoutRecords`); nil: every command checks it.
    public var layoutRecords: LayoutRecords?

    /// Receives one line per kernel conversation step when set (`nftfwd -v`).
    public var trace: ((String) -> Void)?

    /// How many times an operation started over because the kernel refused its batch with
    /// ERESTART (someone changed the ruleset between our read and our commit).
    public private(set) var restarts = 0

    /// Attempts per operation before a refused batch is reported: generous, because each
    /// refusal means another writer made progress, and the jittered pause between attempts
    /// lets contending writers fall out of step. 20 was too few for four writers adding 250
    /// mappings each at once once a read-compute-commit round took about 35 ms (CI: one of
    /// the four gave up after 19 retries).
    public static let maxAttempts = 50

    /// Receives a one-line warning about something that failed after the change was
    /// committed (the change stands; the CLI prints it and still exits 0).
    public var warn: ((String) -> Void)?

    /// Deletes the conntrack entries the filters select and returns how many it deleted; run
    /// after every committed change of a UDP mapping or a masquerade rule (see `StaleFlows`,
    /// `MasqueradeFlows`). Ctnetlink over this
    /// publisher's socket by default; nil keeps the entries (tests compare the two).
    public var flowCleaner: (([ConntrackFilter]) throws -> Int)?

    /// A publisher on the kernel of the caller's network namespace (one netlink socket), which
    /// also cleans conntrack after its changes.
    public convenience init(tableName: String = "nftfwd") throws(PublishError) {
        try PublishError.checking { () throws(MappingError) in try TableLayout.validate(tableName: tableName) }
        let nft: NFTables
        do { nft = try NFTables() } catch { throw .netlink(error) }
        try self.init(tableName: tableName, session: nft)
        flowCleaner = { filters in try Conntrack(socket: nft.socket).deleteFlows(matching: filters) }
    }

    /// A publisher on any session (tests: `NFTablesFake`); no conntrack cleanup unless
    /// `flowCleaner` is set.
    public init(tableName: String = "nftfwd", session: any NFTablesSession) throws(PublishError) {
        try PublishError.checking { () throws(MappingError) in try TableLayout.validate(tableName: tableName) }
        layout = TableLayout(name: tableName)
        self.session = session
    }

    /// The ruleset generation now (one round trip): whether the kernel can be talked to at all.
    public func generation() throws(PublishError) -> UInt32 { try nft.generation() }

    public enum AddOutcome: Sendable, Equatable { case added, alreadyPublished }

    /// Publishes `mapping`. Idempotent: an identical mapping is left as it is.
    ///
    /// Reads only what could conflict, so adding costs the same at 10 or 10,000 published
    /// ports: point lookups of the mapping's own keys, of the wildcard keys a bound mapping
    /// would shadow, and (for a wildcard) the bound maps of its family, which stay small.
    public func add(_ mapping: Mapping) throws(PublishError) -> AddOutcome {
        let outcome = try retryingOnRestart { () throws(PublishError) -> AddOutcome in
            let generation = try nft.generation()
            let structure = try structure(at: generation)
            let exists = structure != nil
            var nearby: [Mapping] = []
            let upgrade = structure ?? TableUpgrade()
            if exists {
                let reader = self.reader
                for (map, keys) in Publisher.probes(for: mapping) {
                    if let keys { nearby += try reader.mappings(owning: keys, in: map) }
                    else { nearby += try reader.mappings(in: map).map(\.mapping) }
                }
                if upgrade.hasAccessSets { nearby = try reader.withAccessLists(nearby) }
            }
            if nearby.contains(mapping) { return .alreadyPublished }
            if let twin = nearby.first(where: { $0.label == mapping.label }) {
                let other = twin.comment != mapping.comment ? "another comment (\"\(twin.comment)\")"
                    : twin.allow.isEmpty ? "no allow-list" : "another allow-list (\(twin.allow.map(\.description).joined(separator: ",")))"
                throw PublishError.mapping(.invalid("\(mapping.label) is already published with \(other): nftfwd rm \(mapping.hostText) first to change it"))
            }
            if let existing = nearby.first(where: { $0.conflicts(with: mapping) }) {
                throw PublishError.mapping(.conflict(new: mapping.description, existing: existing.description))
            }
            var batch = Batch(table: layout.table)
            if exists { layout.upgrade(upgrade, in: &batch) } else { layout.create(in: &batch) }
            addElements(of: mapping, to: &batch)
            try commit(batch, generation)
            return .added
        }
        if outcome == .added { clearStaleFlows(removed: [], added: [mapping]) }
        return outcome
    }

    /// Where a mapping's rivals can be: each map of its host family, with the keys to look up,
    /// or nil for "read it all" (the address-keyed maps, when a wildcard is added; they hold
    /// the few mappings bound to one address).
    static func probes(for mapping: Mapping) -> [(TableLayout.MapName, [[UInt8]]?)] {
        let ports = mapping.host.ports.ports
        let wildcard = IPAddress.unspecified(mapping.hostFamily)
        return TableLayout.MapName.allCases.filter { $0.hostFamily == mapping.hostFamily }.map { map in
            guard map.keyedByAddress else {
                return (map, ports.map { TableLayout.key(address: nil, proto: mapping.proto, port: $0) })
            }
            guard let address = mapping.host.address else { return (map, nil) }
            // The same address, and the "every address" form a relay map keys by 0.0.0.0 / ::.
            return (map, ports.flatMap { port in
                [address, wildcard].map { TableLayout.key(address: $0, proto: mapping.proto, port: port) }
            })
        }
    }

    /// Removes the mappings published on exactly `host` for `proto` (both families when the
    /// host has no address). Returns what was removed; throws `.notFound` if nothing was.
    @discardableResult
    public func remove(host: Endpoint, proto: Proto) throws(PublishError) -> [Mapping] {
        var wanted = host
        if let a = wanted.address, a.isUnspecified { wanted.address = nil }
        let family = host.address?.family
        let removed = try retryingOnRestart { () throws(PublishError) -> [Mapping] in
            let generation = try nft.generation()
            var victims: [Mapping] = []
            let structure = try structure(at: generation)
            let upgrade = structure ?? TableUpgrade()
            if structure != nil {
                let reader = self.reader
                // The mapping owning the first port tells the whole range: one lookup per map.
                for map in TableLayout.MapName.allCases where family == nil || map.hostFamily == family {
                    let address = map.keyedByAddress ? (wanted.address ?? .unspecified(map.hostFamily)) : wanted.address
                    if !map.keyedByAddress && wanted.address != nil { continue }
                    let key = TableLayout.key(address: address, proto: proto, port: wanted.ports.first)
                    victims += try reader.mappings(owning: [key], in: map).filter {
                        $0.proto == proto && $0.host == wanted
                    }
                }
                if upgrade.hasAccessSets { victims = try reader.withAccessLists(victims) }
            }
            guard !victims.isEmpty else {
                let all = (try? reader.snapshot().mappings.map(\.mapping)) ?? []
                let near = all.filter { $0.proto == proto && $0.host.ports.overlaps(host.ports) }
                let hint = near.isEmpty ? "'nftfwd ls' lists what is published"
                    : "published nearby: " + near.map(\.label).joined(separator: ", ")
                throw PublishError.mapping(.notFound("nothing is published on exactly \(host)/\(proto): \(hint)"))
            }
            try commitRemoval(of: victims, upgrade: upgrade, generation)
            return victims
        }
        clearStaleFlows(removed: removed, added: [])
        return removed
    }

    /// Every mapping, with counters.
    public func list() throws(PublishError) -> TableSnapshot {
        try reader.snapshot()
    }

    public struct ApplySummary: Sendable, Equatable {
        public var added: Int, removed: Int, unchanged: Int
        /// Masquerade rules added and removed (0 when the document left them alone).
        public var masqueradeAdded = 0, masqueradeRemoved = 0
        public init(added: Int, removed: Int, unchanged: Int, masqueradeAdded: Int = 0, masqueradeRemoved: Int = 0) {
            self.added = added; self.removed = removed; self.unchanged = unchanged
            self.masqueradeAdded = masqueradeAdded; self.masqueradeRemoved = masqueradeRemoved
        }
    }

    /// Makes the table hold exactly `mappings`, in one batch, leaving masquerade rules alone.
    public func apply(_ mappings: [Mapping]) throws(PublishError) -> ApplySummary {
        try apply(StateDocument(mappings: mappings, masquerade: nil))
    }

    /// Makes the table hold exactly what `document` says, in one batch: its mappings, and its
    /// masquerade rules unless it has none (nil). What is in both stays untouched (counters
    /// keep counting).
    public func apply(_ document: StateDocument) throws(PublishError) -> ApplySummary {
        let mappings = document.mappings
        try PublishError.checking { () throws(MappingError) in try Publisher.checkNoConflicts(mappings) }
        if let rules = document.masquerade { try PublishError.checking { () throws(MappingError) in try MasqueradeRule.checkNoOverlaps(rules) } }
        let digests = applyRecords.map { _ in DesiredDigests(document) }
        if let digests, let summary = unchangedByRecord(document, digests) { return summary }
        let (summary, removed, added, masqueradeGone, masqueradeNew) = try retryingOnRestart {
            () throws(PublishError) -> (ApplySummary, [Mapping], [Mapping], [MasqueradeRule], [MasqueradeRule]) in
            let snapshot = try reader.snapshot()
            // Into a table without mappings (the first apply of a large file) everything is
            // added: no set of 100,000 to build, and no filtered copy of the list.
            let nothingPublished = snapshot.mappings.isEmpty
            let current = nothingPublished ? [] : Set(snapshot.mappings.map(\.mapping))
            let desired = nothingPublished ? [] : Set(mappings)
            var batch = Batch(table: layout.table)
            // An empty file on a host without the table leaves it without one.
            if !snapshot.exists && !(mappings.isEmpty && (document.masquerade ?? []).isEmpty) { layout.create(in: &batch) }
            layout.upgrade(snapshot.upgrade, in: &batch)
            let removed = snapshot.mappings.map(\.mapping).filter { !desired.contains($0) }
            let added = nothingPublished ? mappings : mappings.filter { !current.contains($0) }
            for mapping in removed { deleteElements(of: mapping, from: &batch) }
            for mapping in added { addElements(of: mapping, to: &batch) }
            var masqueradeGone: [MasqueradeRule] = [], masqueradeNew: [MasqueradeRule] = []
            if let rules = document.masquerade {
                let have = Set(snapshot.masquerade), want = Set(rules)
                let gone = snapshot.masquerade.filter { !want.contains($0) }
                let new = rules.filter { !have.contains($0) }.sorted()
                // Deletions first: a subnet that changes its out-not interface is deleted and
                // added again in the same batch.
                for rule in gone { deleteElements(of: rule, from: &batch) }
                for rule in new { addElements(of: rule, to: &batch) }
                masqueradeGone = gone
                masqueradeNew = new
            }
            if !batch.isEmpty { try commit(batch, snapshot.generation) }
            if let digests {
                remember(digests, masquerade: document.masquerade ?? snapshot.masquerade, readAt: snapshot.generation, committed: !batch.isEmpty)
            }
            // checkNoConflicts refused twins: the file's count is the desired set's.
            return (ApplySummary(added: added.count, removed: removed.count, unchanged: mappings.count - added.count,
                                 masqueradeAdded: masqueradeNew.count, masqueradeRemoved: masqueradeGone.count),
                    removed, added, masqueradeGone, masqueradeNew)
        }
        // A mapping removed and added again with only its comment changed keeps its path
        // (one whose allow-list changed does not: its UDP flows from sources no longer
        // allowed must not outlive it in conntrack).
        // Only a change that both removes and adds can keep a path (a first apply of 100,000
        // would build 200,000 strings to find none).
        func path(_ m: Mapping) -> String { m.label + " " + m.allow.map(\.description).joined(separator: ",") }
        if removed.isEmpty || added.isEmpty {
            clearStaleFlows(removed: removed, added: added, masqueradeRemoved: masqueradeGone, masqueradeAdded: masqueradeNew)
        } else {
            let addedPaths = Set(added.map(path)), removedPaths = Set(removed.map(path))
            clearStaleFlows(removed: removed.filter { !addedPaths.contains(path($0)) },
                            added: added.filter { !removedPaths.contains(path($0)) },
                            masqueradeRemoved: masqueradeGone, masqueradeAdded: masqueradeNew)
        }
        return summary
    }

    /// Deletes the whole table. Returns false if there was none. UDP flows the table DNATed,
    /// and those from the subnets it masqueraded, lose their conntrack entries too, as after
    /// `rm` and `masquerade rm` (a table nftfwd cannot read, which flush is the documented way
    /// to remove, is deleted without that cleanup).
    ///
    /// The table goes in one message, and the cleanup reads none of its elements: the publish
    /// rules label every connection they translate (`ct label set 100`), so the flows to clear
    /// are the UDP entries carrying that label, found in one conntrack dump per family. (A
    /// kernel dump of a 100,000-element map costs seconds: it walks the map from the start for
    /// every 32 KB it returns.) Another nftfwd table (`--table`) labels with the same bit: its
    /// UDP flows lose their entries too and their next datagram takes the same path again.
    /// A table of nftfwd 0.1, whose rules did not label, is cleared by its map keys instead.
    @discardableResult
    public func flush() throws(PublishError) -> Bool {
        var cleanup: FlushCleanup?
        let flushed = try retryingOnRestart { () throws(PublishError) -> Bool in
            let generation = try nft.generation()
            guard try nft.tableExists(layout.table) else { return false }
            cleanup = try? flushCleanup()
            var batch = Batch(table: layout.table)
            batch.deleteTable()
            try commit(batch, generation, leavesTodaysLayout: false)
            return true
        }
        if flushed, let cleanup {
            var parts: [String] = []
            if let ports = cleanup.unlabelledPorts {
                if !ports.isEmpty { parts.append("to " + StaleFlows.describe(ports)) }
            } else {
                parts.append("the table translated")
            }
            if !cleanup.masquerade.isEmpty { parts.append("from " + MasqueradeFlows.describe(added: [], removed: cleanup.masquerade)) }
            if !parts.isEmpty {
                cleanFlows("UDP flows " + parts.joined(separator: " and ")) {
                    let published = try cleanup.unlabelledPorts.map { try StaleFlows.filters(deleted: $0, localAddresses: StaleFlows.interfaceAddresses) }
                        ?? StaleFlows.labelledFilters()
                    return published + MasqueradeFlows.filters(added: [], removed: cleanup.masquerade)
                }
            }
        }
        return flushed
    }

    /// What flush's conntrack cleanup needs: the masquerade rules, and for a table whose
    /// rules do not label (nftfwd 0.1) the UDP host ports of its kernel-path maps.
    struct FlushCleanup {
        var masquerade: [MasqueradeRule]
        var unlabelledPorts: Set<StaleFlows.DeletedPort>?
    }

    /// Throws for a table nftfwd cannot read (deleted without the cleanup).
    func flushCleanup() throws(PublishError) -> FlushCleanup {
        let reader = self.reader
        let upgrade = try reader.verifyStructure()
        var ports: Set<StaleFlows.DeletedPort>?
        if upgrade.publishForm == .version01 {
            var keys: [(TableLayout.MapName, [UInt8])] = []
            for map in TableLayout.MapName.allCases where map.isKernelPath {
                keys += try nft.elements(of: layout.table, map: map.rawValue).map { (map, $0.key) }
            }
            ports = StaleFlows.udpHostPorts(keys)
        }
        return FlushCleanup(masquerade: upgrade.hasMasqueradeSets ? try reader.masqueradeRules() : [], unlabelledPorts: ports)
    }

    /// Rejects a list in which two mappings would claim the same packets, naming both.
    public static func checkNoConflicts(_ mappings: [Mapping]) throws(MappingError) {
        // Sorted by protocol and first port, a conflict can only be with an earlier mapping
        // whose range reaches this one's first port.
        let sorted = mappings.sorted { ($0.proto, $0.host.ports.first) < ($1.proto, $1.host.ports.first) }
        var open: [Mapping] = []
        for mapping in sorted {
            open.removeAll { $0.proto != mapping.proto || $0.host.ports.last < mapping.host.ports.first }
            if let other = open.first(where: { $0.conflicts(with: mapping) && $0 != mapping }) {
                throw .conflict(new: mapping.description, existing: other.description)
            }
            if let twin = open.first(where: { $0 == mapping }) {
                throw .invalid("\(twin.label) is listed twice")
            }
            open.append(mapping)
        }
    }

    // MARK: - Helpers

    /// After a committed change: deletes the conntrack entries that would keep UDP flows to
    /// the changed host ports, or from the subnets whose masquerade rule changed, on their old
    /// path (`StaleFlows` and `MasqueradeFlows` say which and why), in one dump. A failure is
    /// a warning, never an error: the change itself is committed and stays.
    func clearStaleFlows(removed: [Mapping], added: [Mapping],
                         masqueradeRemoved: [MasqueradeRule] = [], masqueradeAdded: [MasqueradeRule] = []) {
        let mappings = StaleFlows.relevant(removed + added)
        let masquerade = masqueradeRemoved + masqueradeAdded
        guard flowCleaner != nil, !mappings.isEmpty || !masquerade.isEmpty else { return }
        var parts: [String] = []
        if !mappings.isEmpty { parts.append("to " + StaleFlows.describe(mappings)) }
        if !masquerade.isEmpty { parts.append("from " + MasqueradeFlows.describe(added: masqueradeAdded, removed: masqueradeRemoved)) }
        cleanFlows("UDP flows " + parts.joined(separator: " and ")) {
            try StaleFlows.filters(changed: mappings, published: added, localAddresses: StaleFlows.interfaceAddresses)
                + MasqueradeFlows.filters(added: masqueradeAdded, removed: masqueradeRemoved)
        }
    }

    /// Runs the flow cleaner on the filters `makeFilters` gives; `flows` names them in the
    /// trace and in the warning a failure becomes.
    func cleanFlows(_ flows: String, _ makeFilters: () throws -> [ConntrackFilter]) {
        guard let flowCleaner else { return }
        let start = ContinuousClock.now
        do {
            let deleted = try flowCleaner(try makeFilters())
            let elapsed = ContinuousClock.now - start
            let tenths = elapsed.components.seconds * 10_000 + elapsed.components.attoseconds / 100_000_000_000_000
            trace?("deleted \(deleted) conntrack entr\(deleted == 1 ? "y" : "ies") of \(flows) in \(tenths / 10).\(tenths % 10) ms")
        } catch {
            warn?("the change is committed, but \(flows) could not be cleared from conntrack and may keep their old path until they fall silent: \(error)")
        }
    }

    /// Commits `batch` fenced at `generation`. Every batch but flush's completes or creates
    /// today's layout (`leavesTodaysLayout`): the layout record says so, when it is provable.
    func commit(_ batch: Batch, _ generation: UInt32, leavesTodaysLayout: Bool = true) throws(PublishError) {
        trace?("sending one batch of \(batch.count) message(s), \(batch.bytes.count) bytes, computed at ruleset generation \(generation)")
        let next = try nft.commit(batch, expectingGeneration: generation)
        lastCommittedGeneration = next
        trace?("the kernel committed it: ruleset generation \(next)")
        if leavesTodaysLayout { rememberLayout(fence: generation, committed: next) }
    }

    func addElements(of mapping: Mapping, to batch: inout Batch) {
        let map = TableLayout.map(for: mapping).rawValue
        for (port, element) in zip(mapping.host.ports.ports, TableLayout.elements(for: mapping)) {
            batch.addElement(element, to: map, describedAs: Publisher.describe(mapping, port))
        }
        for (set, element, what) in TableLayout.accessElements(for: mapping) {
            batch.addElement(element, to: set.name, describedAs: what)
        }
    }

    /// One batch that deletes `victims`' elements (completing an older table on the way),
    /// committed at `generation`: `rm`'s and the groups' removal.
    func commitRemoval(of victims: [Mapping], upgrade: TableUpgrade, _ generation: UInt32) throws(PublishError) {
        var batch = Batch(table: layout.table)
        layout.upgrade(upgrade, in: &batch)
        for mapping in victims { deleteElements(of: mapping, from: &batch) }
        try commit(batch, generation)
    }

    func deleteElements(of mapping: Mapping, from batch: inout Batch) {
        let map = TableLayout.map(for: mapping).rawValue
        for (port, element) in zip(mapping.host.ports.ports, TableLayout.elements(for: mapping)) {
            batch.deleteElement(element, from: map, describedAs: Publisher.describe(mapping, port))
        }
        for (set, element, what) in TableLayout.accessElements(for: mapping) {
            batch.deleteElement(element, from: set.name, describedAs: what)
        }
    }

    private static func describe(_ mapping: Mapping, _ port: UInt16) -> String {
        var host = "\(port)/\(mapping.proto)"
        if let a = mapping.host.address { host = "\(a.bracketed):\(host)" }
        return mapping.host.ports.isSingle ? host : "\(host) of \(mapping.label)"
    }

    /// Runs `body` again (up to `maxAttempts` times in all) when the kernel refuses a batch
    /// because the ruleset changed since we read it. `body` must do its reading itself, so
    /// every attempt computes from a fresh read.
    func retryingOnRestart<T>(_ body: () throws(PublishError) -> T) throws(PublishError) -> T {
        var attempt = 0
        while true {
            do {
                return try body()
            } catch {
                attempt += 1
                guard case .netlink(.rejected(let list)) = error, list.contains(where: { $0.errno == .restart }),
                      attempt < Publisher.maxAttempts else {
                    throw error
                }
                restarts += 1
                trace?("the ruleset changed while we computed the batch (ERESTART): reading it again (retry \(attempt) of \(Publisher.maxAttempts - 1))")
                // A random pause, up to 1, 2, 4 ... 128 ms: writers that collided once are
                // unlikely to collide again, even when a round takes longer than the pause.
                Posix.sleep(nanoseconds: UInt64.random(in: 0...(1_000_000 << min(attempt - 1, 7))))
            }
        }
    }
}
