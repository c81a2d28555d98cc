/// What lets `add`, `rm` and the groups' changes skip checking the table's structure (three
/// dumps: chains, sets, rules) at any size: after each of our commits that leaves the table in
/// today's layout, a record of "at ruleset generation G, in this network namespace of this
/// boot, this very executable left table T in today's layout". It is written only when the
/// kernel's answer to the batch's fence was G, one past the generation the batch carried (so
/// no other commit came in between), and the batch was computed from a structure checked (or
/// proven by an earlier record) at that generation.
///
/// A command reads the generation first (it does anyway: its batch carries it as a fence) and
/// the record: the same kernel and executable, the same table, the generation still exactly G
/// prove that nothing, ours or anyone's, changed the ruleset since, so the table is what our
/// commit left, and the fence on the new batch proves it still is when the batch lands (else
/// the kernel refuses it with ERESTART and the command starts over, reading again). Anything
/// else (no record, one it cannot parse, another kernel, executable, table or generation) is
/// the full check: the record can be stale, never believed then.
///
/// Only the structure is vouched for, never elements: `add` still looks up every key it could
/// conflict with, and reads each element it finds against its comment.
public struct LayoutRecords {
    /// Names the kernel (boot id, network namespace cookie) and the executable the record is
    /// about: a record of another boot, namespace or build never matches.
    public let kernel: String
    public let load: () -> String?
    /// Writes the record; it may be rewritten in place (its text proves itself whole).
    public let store: (String) -> Void

    public init(kernel: String, load: @escaping () -> String?, store: @escaping (String) -> Void) {
        self.kernel = kernel; self.load = load; self.store = store
    }
}

/// One layout record's content (see `LayoutRecords`), as text: a header naming the format,
/// one `key value` line each, then the SHA-256 of those lines. The file is rewritten in place
/// after every commit (`NamespaceRecordFile.overwrite`), so a reader can catch a write half
/// done: the sum proves the record whole, and the generation has a fixed width (ten digits)
/// so that one table's record keeps its length.
struct LayoutRecord: Equatable {
    var kernel: String
    var table: String
    var generation: UInt32

    static let header = "nftfwd-layout-record 1"

    var body: String {
        let digits = String(generation)
        return "\(LayoutRecord.header)\nkernel \(kernel)\ntable \(table)\ngeneration \(String(repeating: "0", count: 10 - digits.utf8.count) + digits)\n"
    }

    var text: String { body + "sum " + LayoutRecord.sum(body) + "\n" }

    init(kernel: String, table: String, generation: UInt32) {
        self.kernel = kernel; self.table = table; self.generation = generation
    }

    /// Exactly what `text` writes, or nil (a record of another format, truncated, edited, or
    /// read while it was being rewritten).
    init?(parsing text: String) {
        // Read on the UTF-8 bytes: splitting Characters checks grapheme breaks at each one,
        // about 100,000 instructions for a record, 5% of an `add` (callgrind).
        var lines: [Substring] = []
        var start = text.utf8.startIndex
        for i in text.utf8.indices where text.utf8[i] == UInt8(ascii: "\n") {
            lines.append(Substring(text.utf8[start..<i]))
            start = text.utf8.index(after: i)
        }
        guard start == text.utf8.endIndex, lines.count == 5, lines[0] == LayoutRecord.header else { return nil }
        func value(_ i: Int, _ key: String) -> Substring? {
            let prefix = key + " "
            guard lines[i].utf8.starts(with: prefix.utf8) else { return nil }
            return lines[i].dropFirst(prefix.utf8.count)   // the prefix is ASCII: one Character a byte
        }
        guard let kernel = value(1, "kernel"), let table = value(2, "table"),
              let generationText = value(3, "generation"), generationText.utf8.count == 10,
              generationText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let generation = UInt32(generationText), value(4, "sum") != nil else { return nil }
        self.init(kernel: String(kernel), table: String(table), generation: generation)
        // Written exactly so, sum included (which also proves the record whole).
        guard text == self.text else { return nil }
    }

    static func sum(_ body: String) -> String {
        var sha = SHA256()
        sha.update(body)
        return sha.finish()
    }

    /// The generation the kernel gives the commit after `generation`'s (it skips 0 when it wraps).
    static func successor(of generation: UInt32) -> UInt32 {
        let next = generation &+ 1
        return next == 0 ? 1 : next
    }
}
