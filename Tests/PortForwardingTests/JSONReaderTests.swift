import Testing
@testable import PortForwarding

/// Inputs the JSON fuzz target (contrib/fuzz, target json) checks: what the reader accepts,
/// the printer writes back, and the reader reads again as the same value.
@Suite("The JSON reader on odd input")
struct JSONReaderTests {
    @Test("a character outside the BMP escaped as a surrogate pair (Python's json.dumps, jq -a) reads as that character")
    func surrogatePair() throws {
        let value = try JSON.parse(#"["\ud83d\ude00", "caf\u00e9"]"#)
        #expect(value == .array([.string("\u{1F600}"), .string("café")]))
        #expect(try JSON.parse(value.rendered()) == value)
    }

    @Test("an unpaired surrogate, a sign or a short escape in \\u is refused", arguments: [
        #"["\ud83d"]"#, #"["\ud83dx"]"#, #"["\ude00"]"#, #"["\ud83d\u0041"]"#, #"["\u+041"]"#, #"["\u-041"]"#, #"["\u00e"]"#,
    ])
    func badEscapes(text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    @Test("a number too large for a Double is refused, not read as infinity the printer cannot write")
    func infinity() {
        #expect(throws: JSON.ParseError.self) { try JSON.parse("[1e999]") }
        #expect(throws: JSON.ParseError.self) { try JSON.parse("-1e400") }
        #expect((try? JSON.parse("1e308")) == .number(1e308))
    }
}
