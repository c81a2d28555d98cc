/// The JSON that `nftfwd ls --json` prints and `nftfwd apply` reads: an array of objects
/// `{"proto", "family", "host", "target", "comment", "kernel", "packets", "bytes"}`. `apply`
/// needs `host` and `target`; `proto` defaults to tcp, `comment` to none; `family` (the host
/// side's), if given, must agree; `kernel` and the counters are ignored.
public enum MappingFile {
    /// `extra` adds fields to each object (the CLI adds the relay's view).
    public static func render(_ mappings: [PublishedMapping], extra: (PublishedMapping) -> [(String, JSON)] = { _ in [] }) -> String {
        JSON.array(mappings.map { p in
            .object([
                ("proto", .string(p.mapping.proto.rawValue)),
                ("family", .string(p.mapping.hostFamily.rawValue)),
                ("host", .string(p.mapping.hostText)),
                ("target", .string(p.mapping.target.description)),
                ("comment", .string(p.mapping.comment)),
                ("kernel", .string(p.mapping.isRelayOnly ? "relay-only" : "dnat")),
                ("packets", .number(Double(p.packets))),
                ("bytes", .number(Double(p.bytes))),
            ] + extra(p))
        }).rendered() + "\n"
    }

    static let known: Set<String> = ["proto", "family", "host", "target", "comment", "kernel", "packets", "bytes", "relay"]

    /// Parses a whole file; any bad entry fails it all, naming the entry.
    public static func parse(_ text: String) throws(MappingError) -> [Mapping] {
        let json: JSON
        do { json = try JSON.parse(text) } catch { throw .invalid("mapping file is not valid JSON: \(error)") }
        guard case .array(let items) = json else {
            throw .invalid("mapping file must be a JSON array of mappings, as 'nftfwd ls --json' prints")
        }
        var out: [Mapping] = []
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .object(let fields) = item else { throw .invalid("entry \(n): expected an object") }
            for (key, _) in fields where !known.contains(key) {
                throw .invalid("entry \(n): unknown field '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
            }
            func text(_ key: String, default value: String? = nil) throws(MappingError) -> String {
                switch item[key] {
                case .string(let s)?: return s
                case nil: if let value { return value }; throw .invalid("entry \(n): missing \"\(key)\"")
                default: throw .invalid("entry \(n): \"\(key)\" must be a string")
                }
            }
            do throws(MappingError) {
                let mapping = try Mapping.parse(host: try text("host"), target: try text("target"),
                                                proto: try text("proto", default: "tcp"), comment: try text("comment", default: ""))
                if case .string(let family)? = item["family"], family != mapping.hostFamily.rawValue {
                    throw MappingError.invalid("family \"\(family)\" does not match host \(mapping.hostText), which is \(mapping.hostFamily.rawValue)")
                }
                out.append(mapping)
            } catch {
                if case .invalid(let why) = error, why.hasPrefix("entry ") { throw error }
                throw .invalid("entry \(n): \(error)")
            }
        }
        return out
    }
}
