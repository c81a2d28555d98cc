/// Parses command-line flags the way Go's `flag` package does, since dockerd (and people's
/// scripts) call docker-proxy with Go syntax: `-name value`, `-name=value`, `--name value`,
/// `--name=value`; bool flags take no separate value (`-b`, `-b=false`); parsing stops at
/// `--` or at the first argument that is not a flag.
public struct GoFlags {
    public enum Kind: Sendable { case string, bool }

    public enum Failure: Error, CustomStringConvertible {
        case undefined(String)
        case needsArgument(String)
        case badSyntax(String)
        case invalidBool(String, String)
        case help

        public var description: String {
            switch self {
            case .undefined(let name): return "flag provided but not defined: -\(name)"
            case .needsArgument(let name): return "flag needs an argument: -\(name)"
            case .badSyntax(let arg): return "bad flag syntax: \(arg)"
            case .invalidBool(let value, let name): return "invalid boolean value \"\(value)\" for -\(name): parse error"
            case .help: return "flag: help requested"
            }
        }
    }

    private let kinds: [String: Kind]
    public private(set) var values: [String: String] = [:]
    public private(set) var remaining: [String] = []

    public init(_ kinds: [String: Kind]) { self.kinds = kinds }

    public mutating func parse(_ arguments: [String]) throws(Failure) {
        var index = 0
        while index < arguments.count {
            let arg = arguments[index]
            guard arg.count >= 2, arg.hasPrefix("-") else { break }
            var name = Substring(arg.dropFirst())
            if name.hasPrefix("-") {
                name = name.dropFirst()
                if name.isEmpty { index += 1; break }   // "--" ends the flags
            }
            if name.isEmpty || name.hasPrefix("-") || name.hasPrefix("=") { throw .badSyntax(arg) }
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = name[..<eq]
            }
            let key = String(name)
            index += 1
            guard let kind = kinds[key] else {
                if key == "h" || key == "help" { throw .help }
                throw .undefined(key)
            }
            switch kind {
            case .bool:
                let text = value ?? "true"
                guard let parsed = Self.parseBool(text) else { throw .invalidBool(text, key) }
                values[key] = parsed ? "true" : "false"
            case .string:
                if let value {
                    values[key] = value
                } else {
                    guard index < arguments.count else { throw .needsArgument(key) }
                    values[key] = arguments[index]
                    index += 1
                }
            }
        }
        remaining = Array(arguments[index...])
    }

    public func bool(_ name: String) -> Bool { values[name] == "true" }
    public func string(_ name: String) -> String? { values[name] }

    /// Go's `strconv.ParseInt(text, 0, 64)`, which `flag.Int` uses: an optional sign, then
    /// decimal, `0x` hex, `0o` or leading-`0` octal, or `0b` binary, with `_` allowed between
    /// digits. Exactly that and nothing more: Swift's `Int(_:radix:)` alone would also take a
    /// sign after the prefix (`0x+1f`). Nil for anything Go refuses (or that overflows).
    static func parseInt(_ text: String) -> Int? {
        var s = Substring(text)
        var negative = false
        if let first = s.first, first == "+" || first == "-" { negative = first == "-"; s = s.dropFirst() }
        guard !s.isEmpty else { return nil }
        let literal = s   // as Go checks underscores: after the sign, with the prefix
        var radix = 10
        var prefixed = false
        if s.first == "0", s.count > 1 {
            let second = s[s.index(after: s.startIndex)]
            switch second {
            case "x", "X": radix = 16; s = s.dropFirst(2); prefixed = true
            case "o", "O": radix = 8; s = s.dropFirst(2); prefixed = true
            case "b", "B": radix = 2; s = s.dropFirst(2); prefixed = true
            default: radix = 8; s = s.dropFirst()
            }
            if prefixed && literal.count < 3 { return nil }
        }
        var value = 0
        var sawUnderscore = false
        for c in s {
            if c == "_" { sawUnderscore = true; continue }
            guard let digit = asciiDigit(c), digit < radix else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: radix)
            let (plus, o2) = times.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = plus
        }
        if sawUnderscore && !underscoresOK(literal) { return nil }
        return negative ? -value : value
    }

    /// 0-9, a-f, A-F as their value; nil for anything else (Character.hexDigitValue would also
    /// take fullwidth forms).
    private static func asciiDigit(_ c: Character) -> Int? {
        guard let a = c.asciiValue else { return nil }
        switch a {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(a - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(a - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(a - UInt8(ascii: "A")) + 10
        default: return nil
        }
    }

    /// Go's rule (strconv's underscoreOK): `_` only between digits, or between a base prefix
    /// and a digit; never first, last, or doubled.
    private static func underscoresOK(_ literal: Substring) -> Bool {
        var chars = Array(literal)
        var previous: Character = "^"   // start
        if chars.count >= 2, chars[0] == "0", "xXoObB".contains(chars[1]) {
            chars.removeFirst(2)
            previous = "0"   // a prefix counts as a digit before '_'
        } else if chars.first == "0" {
            previous = "0"
            chars.removeFirst()
        }
        for c in chars {
            if c == "_" {
                guard previous == "0" else { return false }
                previous = "_"
            } else if asciiDigit(c) != nil {
                previous = "0"
            } else {
                return false
            }
        }
        return previous != "_"
    }

    /// Go's strconv.ParseBool.
    public static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }
}
