import Testing
@testable import PortForwarding

@Suite("Untrusted text: escaped when printed, refused in comments")
struct UntrustedTests {
    /// One sample of every class the escape covers, with the text it must print as.
    static let unsafe: [(String, String)] = [
        ("\u{0}", "\\x00"), ("\u{7}", "\\x07"), ("\u{1b}", "\\x1b"), ("\u{1f}", "\\x1f"),
        ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"),
        ("\u{7f}", "\\x7f"),                                           // DEL
        ("\u{80}", "\\u{80}"), ("\u{85}", "\\u{85}"), ("\u{9b}", "\\u{9b}"), ("\u{9f}", "\\u{9f}"),   // C1
        ("\u{202a}", "\\u{202a}"), ("\u{202b}", "\\u{202b}"), ("\u{202c}", "\\u{202c}"),
        ("\u{202d}", "\\u{202d}"), ("\u{202e}", "\\u{202e}"),            // bidi embeddings and overrides
        ("\u{2066}", "\\u{2066}"), ("\u{2067}", "\\u{2067}"), ("\u{2068}", "\\u{2068}"), ("\u{2069}", "\\u{2069}"),   // isolates
        ("\u{200e}", "\\u{200e}"), ("\u{200f}", "\\u{200f}"), ("\u{61c}", "\\u{61c}"),   // marks
        ("\u{200b}", "\\u{200b}"), ("\u{200c}", "\\u{200c}"), ("\u{200d}", "\\u{200d}"), ("\u{feff}", "\\u{feff}"),   // zero-width
        ("\u{2028}", "\\u{2028}"), ("\u{2029}", "\\u{2029}"),            // line and paragraph separators
        ("\u{e0001}", "\\u{e0001}"),                                     // a format character beyond the BMP
    ]

    @Test("every unsafe class is escaped, and a backslash doubled")
    func escapesEveryClass() {
        for (raw, shown) in Self.unsafe {
            #expect(Untrusted.escape("a" + raw + "b") == "a" + shown + "b", "U+\(String(raw.unicodeScalars.first!.value, radix: 16))")
            #expect(Untrusted.isUnsafe(raw.unicodeScalars.first!))
        }
        #expect(Untrusted.escape("C:\\dir") == "C:\\\\dir")
        #expect(Untrusted.escape("\u{1b}[31mred\u{1b}[0m") == "\\x1b[31mred\\x1b[0m")
        // Unambiguous: the escape of ESC and the four characters '\x1b' typed literally differ.
        #expect(Untrusted.escape("\u{1b}") != Untrusted.escape("\\x1b"))
        #expect(Untrusted.escape("\\x1b") == "\\\\x1b")
    }

    @Test("printable text, ASCII or not, is returned untouched")
    func printableUntouched() {
        let ascii = String(String.UnicodeScalarView((0x20...0x7e).compactMap(Unicode.Scalar.init).filter { $0 != "\\" }))
        for text in [ascii, "café ☕", "日本語のコメント", "Ωmega ñ ß ü", "😀 👍🏽", "web tls", "", "ٱلْعَرَبِيَّة", "עברית"] {
            #expect(Untrusted.escape(text) == text)
            #expect(Untrusted.neutralize(text) == text)
            #expect(Untrusted.firstUnsafe(in: text) == nil)
        }
    }

    @Test("neutralize escapes the same characters but leaves backslashes, so escaped text passes unchanged")
    func neutralizeIsIdempotentOnEscaped() {
        let hostile = Self.unsafe.map(\.0).joined() + "\\ plain"
        let escaped = Untrusted.escape(hostile)
        #expect(Untrusted.neutralize(escaped) == escaped)
        #expect(Untrusted.neutralize("a\u{1b}b\\c") == "a\\x1bb\\c")
        #expect(Untrusted.neutralize("one\ntwo") == "one\\ntwo")
        #expect(Untrusted.neutralize("one\ntwo\u{1b}", keepingNewlines: true) == "one\ntwo\\x1b")
        #expect(!Untrusted.neutralize(hostile).unicodeScalars.contains(where: Untrusted.isUnsafe))
    }

    @Test("JSON: unsafe characters come out as \\u escapes, the document stays valid JSON and reads back the same")
    func jsonStaysValid() throws {
        let hostile = Self.unsafe.map(\.0).joined() + "\"\\/ café ☕ 😀"
        let rendered = JSON.object([("comment", .string(hostile)), (hostile, .array([.string(hostile)]))]).rendered()
        // Nothing a terminal acts on is left raw: every byte below 0x20 in the output is a
        // newline of the pretty-printing, and no unsafe scalar appears.
        #expect(!rendered.unicodeScalars.contains { Untrusted.isUnsafe($0) && $0 != "\n" })
        #expect(rendered.contains("\\u001b") && rendered.contains("\\u202e") && rendered.contains("\\u007f") && rendered.contains("\\u0085"))
        #expect(rendered.contains("\\udb40\\udc01"))   // U+E0001 as a surrogate pair, as JSON writes it
        let back = try JSON.parse(rendered)
        #expect(back["comment"] == .string(hostile))
        #expect(back[hostile] == .array([.string(hostile)]))
    }

    @Test("JSON: \\u escapes take exactly four hex digits and valid surrogate pairs")
    func jsonStrictEscapes() throws {
        #expect(try JSON.parse("\"\\u00e9\\uD83D\\uDE00\"") == .string("é😀"))
        for bad in ["\"\\u+0e9\"", "\"\\u00e\"", "\"\\ud83d\"", "\"\\ud83d\\u0041\"", "\"\\udc00\""] {
            #expect(throws: (any Error).self, "\(bad)") { try JSON.parse(bad) }
        }
    }

    @Test("a comment refuses the escaped characters, naming the character and its position", arguments: [
        ("a\u{1b}[31m", "comment: U+001B (a control character) at character 2 is not allowed: use printable text"),
        ("line\nforged", "comment: U+000A (a control character) at character 5 is not allowed: use printable text"),
        ("x\u{7f}", "comment: U+007F (a control character) at character 2 is not allowed: use printable text"),
        ("\u{85}", "comment: U+0085 (a control character) at character 1 is not allowed: use printable text"),
        ("abc\u{202e}cba", "comment: U+202E (an invisible formatting character (bidi or zero-width)) at character 4 is not allowed: use printable text"),
        ("é\u{200b}", "comment: U+200B (an invisible formatting character (bidi or zero-width)) at character 2 is not allowed: use printable text"),
        ("a\u{2028}", "comment: U+2028 (a line separator) at character 2 is not allowed: use printable text"),
        ("say \"hi\"", "comment: '\"' at character 5 is not allowed (it would break the element's comment): leave it out"),
        ("a # b", "comment: '#' at character 3 is not allowed (it would break the element's comment): leave it out"),
    ])
    func commentRefused(comment: String, message: String) {
        #expect(throws: MappingError.invalid(message)) {
            try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: comment)
        }
    }

    @Test("a comment may hold any printable text, non-ASCII too, and a backslash")
    func commentAccepted() throws {
        for comment in ["café ☕", "日本語", "C:\\share", "web tls (prod)"] {
            #expect(try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: comment).comment == comment)
        }
    }

    @Test("the same rule holds for the comment of a state document")
    func documentComment() {
        let document = #"{"mappings": [{"host": "8080", "target": "10.0.0.2:80", "comment": "x\u001b[2J"}]}"#
        #expect(throws: MappingError.invalid("entry 1: comment: U+001B (a control character) at character 2 is not allowed: use printable text")) {
            try StateDocument.parse(document)
        }
    }

    @Test("a comment read from the kernel with controls does not read as a mapping; one an earlier nftfwd wrote does")
    func foreignComment() throws {
        #expect(TableReader.parseComment("8080/tcp -> 10.0.0.2:80 # \u{1b}[31m\nforged\u{202e}", map: .dnat4Any) == nil)
        #expect(TableReader.parseComment("8080/tcp -> 10.0.0.2:80 # plain", map: .dnat4Any) != nil)
        // What an earlier nftfwd accepted (C1, bidi, zero-width) still reads back, to be
        // printed escaped; new comments refuse it.
        let legacy = try #require(TableReader.parseComment("8080/tcp -> 10.0.0.2:80 # a\u{9b}b\u{202e}\u{200d}", map: .dnat4Any))
        #expect(legacy.comment == "a\u{9b}b\u{202e}\u{200d}")
        #expect(throws: MappingError.self) { try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: legacy.comment) }
    }

    /// The inverse of `Untrusted.escape`, to show that escaped text is unambiguous.
    static func unescape(_ text: String) -> String? {
        var out = String.UnicodeScalarView()
        var it = Array(text.unicodeScalars)[...]
        while let c = it.popFirst() {
            guard c == "\\" else { out.append(c); continue }
            switch it.popFirst() {
            case "\\": out.append("\\")
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "x":
                guard it.count >= 2, let v = UInt32(String(String.UnicodeScalarView(it.prefix(2))), radix: 16) else { return nil }
                it = it.dropFirst(2)
                out.append(Unicode.Scalar(v)!)
            case "u":
                guard it.popFirst() == "{", let close = it.firstIndex(of: "}"),
                      let v = UInt32(String(String.UnicodeScalarView(it[..<close])), radix: 16), let s = Unicode.Scalar(v) else { return nil }
                it = it[(close + 1)...]
                out.append(s)
            default: return nil
            }
        }
        return String(out)
    }

    @Test("random text: the escape has no unsafe character, reads back exactly, and passes neutralize unchanged")
    func randomRoundTrip() {
        // A fixed-seed generator (SplitMix64), so a failure reproduces.
        var state: UInt64 = 0x9e3779b97f4a7c15
        func next() -> UInt64 {
            state &+= 0x9e3779b97f4a7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
            z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
            return z ^ (z >> 31)
        }
        // Mostly the interesting neighbourhoods: ASCII, C1 and Latin-1, the bidi/format block, anything.
        let pools: [ClosedRange<UInt32>] = [0...0x7f, 0x80...0xff, 0x2000...0x206f, 0...0x10ffff]
        for _ in 0..<2000 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int(next() % 24) {
                let pool = pools[Int(next() % UInt64(pools.count))]
                if let s = Unicode.Scalar(pool.lowerBound + UInt32(next() % UInt64(pool.count))) { scalars.append(s) }
            }
            let text = String(scalars)
            let escaped = Untrusted.escape(text)
            #expect(!escaped.unicodeScalars.contains(where: Untrusted.isUnsafe))
            // Scalar by scalar: String's == would also call canonically equivalent text equal.
            #expect(Self.unescape(escaped).map { Array($0.unicodeScalars) } == Array(text.unicodeScalars))
            #expect(Untrusted.neutralize(escaped) == escaped)
            #expect(!Untrusted.neutralize(text).unicodeScalars.contains(where: Untrusted.isUnsafe))
        }
    }
}
