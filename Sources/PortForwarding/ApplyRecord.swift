/// What makes an `apply` that changes nothing cheap at any size: after every apply, a record
/// of "at ruleset generation G, in this network namespace of this boot, table T held exactly
/// the state with digests M (mappings) and Q (masquerade rules)". It is written only when that
/// is known: by the apply that committed the batch producing G (the kernel's answer to the
/// batch's fence was G, one past the generation the batch carried, so no other commit came in
/// between), or by an apply that read the table, verified, at G and found nothing to change.
///
/// The next apply reads the generation (one round trip) and the record: the same kernel, the
/// same table, the generation still exactly G (so nothing, ours or anyone's, was committed
/// since: every commit moves it) and the file's digests equal to the record's prove the table
/// holds the file's state, and it returns without a dump. Anything else (no record, a record it
/// cannot parse, another generation, another digest) is today's full read: the record can be
/// stale or wrong, never believed then. It is not a second copy of the state, only of its
/// digest, and the generation check detects every drift.
///
/// The kernel could not carry it: nf_tables keeps a table's, chain's or set's userdata from its
/// creation and ignores it in an update (checked on 6.18: `nft add table inet x { comment "b"; }`
/// leaves "a"), and an element of a set of our own would change the table's layout.
public struct ApplyRecords {
    /// Names the kernel the record is about (boot id and network namespace cookie): a record
    /// of another boot or namespace never matches, even at an equal generation.
    public let kernel: String
    public let load: () -> String?
    public let store: (String) -> Void

    public init(kernel: String, load: @escaping () -> String?, store: @escaping (String) -> Void) {
        self.kernel = kernel; self.load = load; self.store = store
    }
}

/// One record's content (see `ApplyRecords`), as text: a header naming the format, then one
/// `key value` line each.
struct ApplyRecord: Equatable {
    var kernel: String
    var table: String
    var generation: UInt32
    var mappings: String
    var masquerade: String

    static let header = "nftfwd-apply-record 1"

    var text: String {
        "\(ApplyRecord.header)\nkernel \(kernel)\ntable \(table)\ngeneration \(generation)\nmappings \(mappings)\nmasquerade \(masquerade)\n"
    }

    init(kernel: String, table: String, generation: UInt32, mappings: String, masquerade: String) {
        self.kernel = kernel; self.table = table; self.generation = generation
        self.mappings = mappings; self.masquerade = masquerade
    }

    /// Exactly what `text` writes, or nil (a record of another format, truncated or edited).
    init?(parsing text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 7, lines[0] == ApplyRecord.header, lines[6].isEmpty else { return nil }
        func value(_ i: Int, _ key: String) -> String? {
            let prefix = key + " "
            guard lines[i].hasPrefix(prefix) else { return nil }
            return String(lines[i].dropFirst(prefix.count))
        }
        guard let kernel = value(1, "kernel"), let table = value(2, "table"),
              let generationText = value(3, "generation"), let generation = UInt32(generationText),
              String(generation) == generationText,
              let mappings = value(4, "mappings"), let masquerade = value(5, "masquerade"),
              ApplyRecord.isDigest(mappings), ApplyRecord.isDigest(masquerade) else { return nil }
        self.init(kernel: kernel, table: table, generation: generation, mappings: mappings, masquerade: masquerade)
    }

    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The digest of a set of masquerade rules, whatever their order.
    static func digest(of rules: Set<MasqueradeRule>) -> String {
        let encoded = rules.map { r -> String in
            let outNot = r.outNot ?? ""
            return "\(r.subnet.description.utf8.count):\(r.subnet)\(r.outNot == nil ? "-" : "+")\(outNot.utf8.count):\(outNot)"
        }.sorted()
        var sha = SHA256()
        sha.update("masquerade \(encoded.count)\n")
        for text in encoded { sha.update(text) }
        return sha.finish()
    }
}
