/// The JSON that `nftfwd ls --json` prints and `nftfwd apply` reads:
/// `{"mappings": [...], "masquerade": [...]}`. Each mapping is an object
/// `{"proto", "family", "host", "target", "comment", "allow", "proxy_protocol", "kernel", "packets", "bytes",
/// "refused"}`; `apply` needs `host` and `target`; `proto` defaults to tcp, `comment` to none,
/// `allow` (an array of CIDRs) to everyone, `proxy_protocol` ("v1", "v2") to null; `family` (the host
/// side's), if given, must agree; `kernel` and the counters are ignored. Each masquerade rule
/// is `{"subnet": "10.88.0.0/24", "out-not": "br0"}` ("out-not" omitted when none).
public enum MappingFile {
    /// The whole document.
    public static func render(_ snapshot: TableSnapshot, extra: (PublishedMapping) -> [(String, JSON)] = { _ in [] }) -> String {
        JSON.object([
            ("mappings", mappingsJSON(snapshot.mappings, extra: extra)),
            ("masquerade", masqueradeJSON(snapshot.masquerade)),
        ]).rendered() + "\n"
    }

    /// The masquerade rules alone, as an array.
    public static func renderMasquerade(_ rules: [MasqueradeRule]) -> String {
        masqueradeJSON(rules).rendered() + "\n"
    }

    static func masqueradeJSON(_ rules: [MasqueradeRule]) -> JSON {
        .array(rules.map { rule in
            .object([("subnet", .string(rule.subnet.description))] + (rule.outNot.map { [("out-not", .string($0))] } ?? []))
        })
    }

    static func masquerade(from json: JSON) throws(MappingError) -> [MasqueradeRule] {
        guard case .array(let items) = json else { throw .invalid("\"masquerade\" must be an array of {\"subnet\", \"out-not\"} objects") }
        var out: [MasqueradeRule] = []
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .object(let fields) = item else { throw .invalid("masquerade entry \(n): expected an object") }
            for (key, _) in fields where key != "subnet" && key != "out-not" {
                throw .invalid("masquerade entry \(n): unknown field '\(Untrusted.escape(key))' (known: out-not, subnet)")
            }
            guard case .string(let subnet)? = item["subnet"] else { throw .invalid("masquerade entry \(n): missing \"subnet\" (a string)") }
            var outNot: String?
            switch item["out-not"] {
            case nil, .null?: outNot = nil
            case .string(let s)?: outNot = s
            default: throw .invalid("masquerade entry \(n): \"out-not\" must be a string")
            }
            do throws(MappingError) {
                out.append(try MasqueradeRule.parse(subnet: subnet, outNot: outNot))
            } catch {
                throw .invalid("masquerade entry \(n): \(error)")
            }
        }
        return out
    }

    /// The mappings alone, as an array. `extra` adds fields to each object (the CLI adds the relay's view).
    public static func render(_ mappings: [PublishedMapping], extra: (PublishedMapping) -> [(String, JSON)] = { _ in [] }) -> String {
        mappingsJSON(mappings, extra: extra).rendered() + "\n"
    }

    static func mappingsJSON(_ mappings: [PublishedMapping], extra: (PublishedMapping) -> [(String, JSON)]) -> JSON {
        JSON.array(mappings.map { p in
            .object([
                ("proto", .string(p.mapping.proto.rawValue)),
                ("family", .string(p.mapping.hostFamily.rawValue)),
                ("host", .string(p.mapping.hostText)),
                ("target", .string(p.mapping.target.description)),
                ("comment", .string(p.mapping.comment)),
                ("kernel", .string(p.mapping.isRelayOnly ? "relay-only" : "dnat")),
                ("allow", .array(p.mapping.allow.map { .string($0.description) })),
                ("proxy_protocol", p.mapping.proxyProtocol.map { .string($0.rawValue) } ?? .null),
                ("packets", .number(Double(p.packets))),
                ("bytes", .number(Double(p.bytes))),
                ("refused", .number(Double(p.refusedPackets))),
            ] + extra(p))
        })
    }

    static let known: Set<String> = ["proto", "family", "host", "target", "comment", "allow", "proxy_protocol", "kernel", "packets", "bytes", "refused", "relay"]

    /// Parses a whole file's mappings (either form); any bad entry fails it all, naming the entry.
    public static func parse(_ text: String) throws(MappingError) -> [Mapping] {
        try StateDocument.parse(text).mappings
    }

    static func mappings(from json: JSON, section: String?) throws(MappingError) -> [Mapping] {
        guard case .array(let items) = json else {
            throw .invalid("\(section.map { "\"\($0)\"" } ?? "mapping file") must be a JSON array of mappings, as 'nftfwd ls --json' prints")
        }
        var out: [Mapping] = []
        func proxyProtocol(_ value: JSON?, entry n: Int) throws(MappingError) -> ProxyProtocol? {
            switch value {
            case nil, .null?: return nil
            case .string(let text)?: return try ProxyProtocol.parse(text)
            default: throw .invalid("entry \(n): \"proxy_protocol\" must be \"v1\", \"v2\" or null")
            }
        }
        func allowList(_ value: JSON?, entry n: Int) throws(MappingError) -> [String] {
            switch value {
            case nil, .null?: return []
            case .array(let items)?:
                var texts: [String] = []
                for item in items {
                    guard case .string(let text) = item else { throw .invalid("entry \(n): \"allow\" must be an array of CIDR strings") }
                    texts.append(text)
                }
                return texts
            default: throw .invalid("entry \(n): \"allow\" must be an array of CIDR strings, e.g. [\"192.168.1.0/24\"]")
            }
        }
        out.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .object(let fields) = item else { throw .invalid("entry \(n): expected an object") }
            // One pass over the fields: each known field's first occurrence (what item[key]
            // finds), and the first unknown field refused before any value is looked at.
            var host: JSON?, target: JSON?, proto: JSON?, comment: JSON?, allow: JSON?, proxy: JSON?, family: JSON?
            for (key, value) in fields {
                switch key {
                case "host": if host == nil { host = value }
                case "target": if target == nil { target = value }
                case "proto": if proto == nil { proto = value }
                case "comment": if comment == nil { comment = value }
                case "allow": if allow == nil { allow = value }
                case "proxy_protocol": if proxy == nil { proxy = value }
                case "family": if family == nil { family = value }
                case "kernel", "packets", "bytes", "refused", "relay": break
                default:
                    throw .invalid("entry \(n): unknown field '\(Untrusted.escape(key))' (known: \(known.sorted().joined(separator: ", ")))")
                }
            }
            func text(_ value: JSON?, _ key: String, default fallback: String? = nil) throws(MappingError) -> String {
                switch value {
                case .string(let s)?: return s
                case nil: if let fallback { return fallback }; throw .invalid("entry \(n): missing \"\(key)\"")
                default: throw .invalid("entry \(n): \"\(key)\" must be a string")
                }
            }
            do throws(MappingError) {
                var mapping = try Mapping.parse(host: try text(host, "host"), target: try text(target, "target"),
                                                proto: try text(proto, "proto", default: "tcp"), comment: try text(comment, "comment", default: ""))
                let allowed = try allowList(allow, entry: n)
                if !allowed.isEmpty { mapping = try mapping.allowing(allowed) }
                mapping = try mapping.proxying(try proxyProtocol(proxy, entry: n))
                if case .string(let named)? = family, named != mapping.hostFamily.rawValue {
                    throw MappingError.invalid("family \"\(Untrusted.escape(named))\" does not match host \(mapping.hostText), which is \(mapping.hostFamily.rawValue)")
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
