/// A small JSON value with a strict parser and a stable printer: enough for `ls --json` and
/// `apply`, without pulling Foundation (and its start-up cost) into every CLI call.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == key }?.1
    }

    // MARK: - Printing

    /// Pretty-printed with two-space indentation; objects keep their field order.
    public func rendered(indent: String = "") -> String {
        var out = ""
        render(into: &out, indent: indent)
        return out
    }

    /// Appends to one buffer: building a string per node and joining them was half of
    /// `ls --json` of 10,000 mappings.
    func render(into out: inout String, indent: String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { out += String(Int64(n)) } else { out += String(n) }
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            let inner = indent + "  "
            out += "[\n"
            for (i, item) in items.enumerated() {
                if i > 0 { out += ",\n" }
                out += inner
                item.render(into: &out, indent: inner)
            }
            out += "\n" + indent + "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            let inner = indent + "  "
            out += "{\n"
            for (i, field) in fields.enumerated() {
                if i > 0 { out += ",\n" }
                out += inner
                JSON.quote(field.0, into: &out)
                out += ": "
                field.1.render(into: &out, indent: inner)
            }
            out += "\n" + indent + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = ""
        quote(s, into: &out)
        return out
    }

    static func quote(_ s: String, into out: inout String) {
        // Printable ASCII without quote or backslash (every comment nftfwd writes) goes as it is.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 && $0 != 0x5c }) {
            out += "\""
            out += s
            out += "\""
            return
        }
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                // JSON requires escaping only C0; the other characters a terminal or a reader
                // would act on (DEL, C1, bidi and format controls) are escaped too, so
                // `ls --json` on a terminal is as safe as `ls`. Beyond the BMP as a surrogate pair.
                guard Untrusted.isUnsafe(scalar) else { out.unicodeScalars.append(scalar); continue }
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        out += "\""
    }

    // MARK: - Parsing

    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var line: Int
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws -> JSON {
        var parser = Parser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.at == parser.bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var at = 0

        func error(_ message: String) -> ParseError {
            ParseError(message: message, line: 1 + bytes[..<min(at, bytes.count)].filter { $0 == 10 }.count)
        }

        mutating func skipSpace() {
            while at < bytes.count {
                let b = bytes[at]
                guard b == 32 || b == 10 || b == 9 || b == 13 else { return }
                at += 1
            }
        }

        mutating func expect(_ literal: String, _ value: JSON) throws -> JSON {
            let l = Array(literal.utf8)
            guard at + l.count <= bytes.count, Array(bytes[at..<at + l.count]) == l else { throw error("invalid literal") }
            at += l.count
            return value
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < 64 else { throw error("nested too deeply") }
            guard at < bytes.count else { throw error("unexpected end of input") }
            switch bytes[at] {
            case UInt8(ascii: "{"):
                at += 1
                var fields: [(String, JSON)] = []
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
                while true {
                    skipSpace()
                    guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw error("expected a field name in quotes") }
                    let key = try string()
                    skipSpace()
                    guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw error("expected ':' after \"\(key)\"") }
                    at += 1
                    skipSpace()
                    fields.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard at < bytes.count else { throw error("unterminated object") }
                    if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                    if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                at += 1
                var items: [JSON] = []
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard at < bytes.count else { throw error("unterminated array") }
                    if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                    if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            default: return try number()
            }
        }

        mutating func number() throws -> JSON {
            let start = at
            var digitsOnly = true
            var value: Int64 = 0
            while at < bytes.count, JSON.Parser.isNumberByte(bytes[at]) {
                let b = bytes[at]
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { value = value &* 10 &+ Int64(b - UInt8(ascii: "0")) } else { digitsOnly = false }
                at += 1
            }
            // Plain digits (the counters `ls --json` writes), up to 15 of them: the value is
            // exact, what Double(text) would give, without a String to hand it.
            if digitsOnly && at > start && at - start <= 15 { return .number(Double(value)) }
            guard at > start, let n = Double(String(decoding: bytes[start..<at], as: UTF8.self)) else {
                throw error("unexpected character")
            }
            // 1e999 reads as infinity, which JSON cannot write back.
            guard n.isFinite else { throw error("number out of range") }
            return .number(n)
        }

        static func isNumberByte(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        }

        /// Exactly four hex digits (no sign, which `UInt32(_:radix:)` would take).
        mutating func hex4() throws -> UInt32 {
            guard at + 4 <= bytes.count else { throw error("bad \\u escape") }
            var v: UInt32 = 0
            for b in bytes[at..<at + 4] {
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v << 4 | UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): v = v << 4 | UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): v = v << 4 | UInt32(b - UInt8(ascii: "A") + 10)
                default: throw error("bad \\u escape")
                }
            }
            at += 4
            return v
        }

        mutating func string() throws -> String {
            at += 1
            // Fast path: no escapes, so the bytes are the string.
            var end = at
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                defer { at = end + 1 }
                return String(decoding: bytes[at..<end], as: UTF8.self)
            }
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
            while at < bytes.count {
                let b = bytes[at]
                at += 1
                if b == UInt8(ascii: "\"") { flush(); return String(scalars) }
                if b < 0x20 { throw error("control character in string") }
                if b != UInt8(ascii: "\\") { raw.append(b); continue }
                guard at < bytes.count else { break }
                let e = bytes[at]
                at += 1
                flush()
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    // Beyond the BMP: a high surrogate, then \uDC00-\uDFFF (as `ls --json` writes them).
                    if (0xd800...0xdbff).contains(v) {
                        guard at + 2 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                            throw error("bad \\u escape")
                        }
                        at += 2
                        let low = try hex4()
                        guard (0xdc00...0xdfff).contains(low) else { throw error("bad \\u escape") }
                        v = 0x10000 + ((v - 0xd800) << 10) + (low - 0xdc00)
                    }
                    guard let s = Unicode.Scalar(v) else { throw error("bad \\u escape") }
                    scalars.append(s)
                default: throw error("bad escape")
                }
            }
            throw error("unterminated string")
        }
    }
}
