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

    /// Go's strconv.ParseBool.
    public static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }
}
