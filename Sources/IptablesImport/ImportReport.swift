import PortForwarding
/// What an import made of each line of its input: every rule lands in exactly one note, so
/// nothing is dropped without a word.
public struct ImportNote: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Int, Sendable, Comparable, CaseIterable {
        /// A mapping or masquerade subnet taken over (`text` names it).
        case imported
        /// Something the imported mapping does differently from the rule (a dropped condition).
        case caveat
        /// Recognised, and nftfwd does it by itself (Docker's hairpin masquerade).
        case notNeeded
        /// Chain declarations, jumps and RETURNs that only route packets to the rules above.
        case plumbing
        /// A whole table other than nat.
        case skipped
        /// A rule nftfwd did not take over; `text` says why, `rule` what it was.
        case notImported

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }

        var heading: String {
            switch self {
            case .imported: return "imported:"
            case .caveat: return "differences (the imported mapping behaves otherwise here):"
            case .notNeeded: return "not needed (nftfwd does this by itself):"
            case .plumbing: return "recognised plumbing (nothing to import):"
            case .skipped: return "skipped:"
            case .notImported: return "not imported:"
            }
        }
    }

    public var kind: Kind
    /// Input line numbers, ascending.
    public var lines: [Int]
    public var text: String
    /// The rule as written, for `notImported`.
    public var rule: String?

    public init(_ kind: Kind, lines: [Int], _ text: String, rule: String? = nil) {
        self.kind = kind
        self.lines = lines.sorted()
        self.text = text
        self.rule = rule
    }

    public var description: String { "\(ImportNote.lineList(lines)): \(text)" }

    /// `line 7`, `lines 7-9, 12`; past `limit` runs, how many more lines there are
    /// (interleaved rules of thousands of ports would otherwise fill pages).
    static func lineList(_ lines: [Int], limit: Int = 12) -> String {
        var runs: [String] = []
        var i = 0, shown = 0
        let sorted = Array(Set(lines)).sorted()
        while i < sorted.count && runs.count < limit {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            runs.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            shown = j + 1
            i = j + 1
        }
        let more = sorted.count - shown
        return (sorted.count == 1 ? "line " : "lines ") + runs.joined(separator: ", ") + (more > 0 ? " and \(more) more" : "")
    }
}

extension [ImportNote] {
    /// The report `nftfwd import` prints on standard error: a summary line, then the notes by
    /// kind; notes of one kind with the same text are merged into one line.
    public func rendered(summary: String) -> String {
        var out = summary + "\n"
        for kind in ImportNote.Kind.allCases {
            var merged: [ImportNote] = []
            var byText: [String: Int] = [:]
            for note in self where note.kind == kind {
                if kind != .notImported, kind != .imported, let i = byText[note.text] {
                    merged[i].lines += note.lines
                } else {
                    byText[note.text] = merged.count
                    merged.append(note)
                }
            }
            for i in merged.indices { merged[i].lines.sort() }
            guard !merged.isEmpty else { continue }
            out += kind.heading + "\n"
            // Notes quote the input (rules, chain and interface names) as it was: escaped
            // here, once, so a line of the file cannot drive the terminal.
            for note in merged.sorted(by: { ($0.lines.first ?? 0) < ($1.lines.first ?? 0) }) {
                let text = Untrusted.escape(note.text)
                if let rule = note.rule {
                    out += "  \(ImportNote.lineList(note.lines)): \(Untrusted.escape(rule))\n" + wrapped("      " + text)
                } else {
                    out += wrapped("  \(ImportNote.lineList(note.lines)): \(text)")
                }
            }
        }
        return out
    }

    /// `line` broken at spaces to lines of at most `width` columns, continued 6 columns in.
    /// (A rule quoted as written is never broken: it stays copyable.)
    func wrapped(_ line: String, width: Int = 100) -> String {
        let indent = String(line.prefix { $0 == " " })
        var out = "", current = indent
        // A negation stays with its option ('! -i docker0' reads badly across lines).
        var words: [String] = []
        for word in line.dropFirst(indent.count).split(separator: " ") {
            if let last = words.last, last == "!" || last.hasSuffix("'!") { words[words.count - 1] += " " + word }
            else { words.append(String(word)) }
        }
        for word in words {
            if current.count > indent.count && current.count + 1 + word.count > width {
                out += current + "\n"
                current = "      " + word
            } else {
                current += (current.count > indent.count ? " " : "") + word
            }
        }
        return out + current + "\n"
    }
}
