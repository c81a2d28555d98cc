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
    public let nft: NFTables
    public var reader: TableReader { TableReader(layout: layout, nft: nft) }

    public init(tableName: String = "nftfwd") throws {
        try TableLayout.validate(tableName: tableName)
        layout = TableLayout(name: tableName)
        nft = try NFTables()
    }

    public enum AddOutcome: Sendable, Equatable { case added, alreadyPublished }

    /// Publishes `mapping`. Idempotent: an identical mapping is left as it is.
    public func add(_ mapping: Mapping) throws -> AddOutcome {
        try retryingOnRestart {
            let snapshot = try reader.snapshot()
            if snapshot.mappings.contains(where: { $0.mapping == mapping }) { return .alreadyPublished }
            if let existing = snapshot.mappings.first(where: { $0.mapping.conflicts(with: mapping) }) {
                throw MappingError.conflict(new: mapping.description, existing: existing.mapping.description)
            }
            var batch = Batch(table: layout.table)
            if !snapshot.exists { layout.create(in: &batch) }
            addElements(of: mapping, to: &batch)
            try nft.commit(batch, expectingGeneration: snapshot.generation)
            return .added
        }
    }

    /// Removes the mappings published on exactly `host` for `proto` (both families when the
    /// host has no address). Returns what was removed; throws `.notFound` if nothing was.
    @discardableResult
    public func remove(host: Endpoint, proto: Proto) throws -> [Mapping] {
        try retryingOnRestart {
            let snapshot = try reader.snapshot()
            var wanted = host
            if let a = wanted.address, a.isUnspecified { wanted.address = nil }
            let family = host.address?.family
            let victims = snapshot.mappings.map(\.mapping).filter {
                $0.proto == proto && $0.host.ports == wanted.ports && $0.host.address == wanted.address &&
                    (family == nil || $0.family == family)
            }
            guard !victims.isEmpty else {
                let near = snapshot.mappings.map(\.mapping).filter { $0.proto == proto && $0.host.ports.overlaps(host.ports) }
                let hint = near.isEmpty ? "'nftfwd ls' lists what is published"
                    : "published nearby: " + near.map(\.label).joined(separator: ", ")
                throw MappingError.notFound("nothing is published on exactly \(host)/\(proto): \(hint)")
            }
            var batch = Batch(table: layout.table)
            for mapping in victims { deleteElements(of: mapping, from: &batch) }
            try nft.commit(batch, expectingGeneration: snapshot.generation)
            return victims
        }
    }

    /// Every mapping, with counters.
    public func list() throws -> TableSnapshot {
        try reader.snapshot()
    }

    public struct ApplySummary: Sendable, Equatable {
        public var added: Int, removed: Int, unchanged: Int
    }

    /// Makes the table hold exactly `mappings`, in one batch. Mappings present in both stay
    /// untouched (their counters keep counting).
    public func apply(_ mappings: [Mapping]) throws -> ApplySummary {
        try Publisher.checkNoConflicts(mappings)
        return try retryingOnRestart {
            let snapshot = try reader.snapshot()
            let current = Set(snapshot.mappings.map(\.mapping))
            let desired = Set(mappings)
            var batch = Batch(table: layout.table)
            if !snapshot.exists { layout.create(in: &batch) }
            let removed = snapshot.mappings.map(\.mapping).filter { !desired.contains($0) }
            let added = mappings.filter { !current.contains($0) }
            for mapping in removed { deleteElements(of: mapping, from: &batch) }
            for mapping in added { addElements(of: mapping, to: &batch) }
            if !batch.isEmpty { try nft.commit(batch, expectingGeneration: snapshot.generation) }
            return ApplySummary(added: added.count, removed: removed.count, unchanged: desired.count - added.count)
        }
    }

    /// Deletes the whole table. Returns false if there was none.
    @discardableResult
    public func flush() throws -> Bool {
        try retryingOnRestart {
            let generation = try nft.generation()
            guard try nft.tableExists(layout.table) else { return false }
            var batch = Batch(table: layout.table)
            batch.deleteTable()
            try nft.commit(batch, expectingGeneration: generation)
            return true
        }
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

    private func addElements(of mapping: Mapping, to batch: inout Batch) {
        let map = TableLayout.map(for: mapping).rawValue
        for (port, element) in zip(mapping.host.ports.ports, TableLayout.elements(for: mapping)) {
            batch.addElement(element, to: map, describedAs: describe(mapping, port))
        }
    }

    private func deleteElements(of mapping: Mapping, from batch: inout Batch) {
        let map = TableLayout.map(for: mapping).rawValue
        for (port, element) in zip(mapping.host.ports.ports, TableLayout.elements(for: mapping)) {
            batch.deleteElement(element, from: map, describedAs: describe(mapping, port))
        }
    }

    private func describe(_ mapping: Mapping, _ port: UInt16) -> String {
        var host = "\(port)/\(mapping.proto)"
        if let a = mapping.host.address { host = "\(a.bracketed):\(host)" }
        return mapping.host.ports.isSingle ? host : "\(host) of \(mapping.label)"
    }

    /// Runs `body` again (up to 5 times) when the kernel refuses a batch because the ruleset
    /// changed since we read it.
    private func retryingOnRestart<T>(_ body: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            do {
                return try body()
            } catch let error as NetlinkError {
                attempt += 1
                guard case .rejected(let list) = error, list.contains(where: { $0.errno == .restart }), attempt < 5 else {
                    throw error
                }
            }
        }
    }
}
