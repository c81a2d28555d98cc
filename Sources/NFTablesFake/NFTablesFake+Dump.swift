import NFTables

extension NFTablesFake {
    /// The ruleset in nft's syntax, as `nft list ruleset` prints it (sets before chains,
    /// ranges folded into `start-end`), so a failing test shows what the fake holds. Rules are
    /// printed as libnftnl's text of their expressions (the fake keeps expressions, not nft's
    /// source), each ending in its handle.
    public func dump() -> String {
        var out = ""
        for table in ruleset.tables {
            out += "table \(table.spec.family) \(table.spec.name) {\n"
            for stored in table.sets {
                let s = stored.spec
                out += "\t\(s.isMap ? "map" : "set") \(s.name) {\n"
                out += "\t\ttype " + s.key.map(\.nftName).joined(separator: " . ")
                if s.isMap { out += " : " + s.value.map(\.nftName).joined(separator: " . ") }
                out += "\n"
                if s.interval { out += "\t\tflags interval\n" }
                if s.counters { out += "\t\tcounter\n" }
                let elements = NFTablesFake.describe(stored)
                if !elements.isEmpty {
                    out += "\t\telements = { " + elements.joined(separator: ",\n\t\t\t     ") + " }\n"
                }
                out += "\t}\n"
            }
            for chain in table.chains {
                out += "\tchain \(chain.name) {\n"
                if let base = chain.base {
                    out += "\t\ttype \(base.type) hook \(base.hook.nftName) priority \(base.priority); policy \(base.acceptByDefault ? "accept" : "drop");\n"
                }
                for stored in table.rules where stored.rule.chain == chain.name {
                    out += "\t\t" + stored.rule.expressions.map { "[ \($0.fingerprint) ]" }.joined(separator: " ") + " # handle \(stored.handle)\n"
                }
                out += "\t}\n"
            }
            out += "}\n"
        }
        return out
    }

    /// Each element as nft prints it: `key : value counter packets P bytes B comment "C"`; an
    /// rbtree range's start and end element as one `first-last`.
    static func describe(_ set: StoredSet) -> [String] {
        let spec = set.spec
        var out: [String] = []
        let ordered = spec.interval && spec.key.count == 1 ? set.elements.sorted { $0.key.lexicographicallyPrecedes($1.key) } : set.elements
        var index = 0
        while index < ordered.count {
            let e = ordered[index]
            index += 1
            if e.intervalEnd { continue }
            var key = NFTablesFake.fields(e.key, spec.key)
            if !e.keyEnd.isEmpty {
                let last = NFTablesFake.fields(e.keyEnd, spec.key)
                key = zip(key, last).map { $0 == $1 ? $0 : "\($0)-\($1)" }
            } else if spec.interval && spec.key.count == 1, index < ordered.count, ordered[index].intervalEnd {
                key = ["\(key[0])-\(NFTablesFake.fields(NFTablesFake.minusOne(ordered[index].key), spec.key)[0])"]
                index += 1
            }
            var text = key.joined(separator: " . ")
            if spec.isMap { text += " : " + NFTablesFake.fields(e.value, spec.value).joined(separator: " . ") }
            if spec.counters { text += " counter packets \(e.packets) bytes \(e.bytes)" }
            if let comment = e.comment { text += " comment \"\(comment)\"" }
            out.append(text)
        }
        return out
    }

    /// A concatenation's fields, each padded to its concat length.
    static func fields(_ bytes: [UInt8], _ types: [DataType]) -> [String] {
        var offset = 0
        return types.map { type in
            let end = min(offset + type.concatLength, bytes.count)
            let field = Array(bytes[min(offset, end)..<end])
            offset += type.concatLength
            return type.format(field)
        }
    }

    /// An rbtree range ends at the first key after it: the last key in it is one less.
    static func minusOne(_ key: [UInt8]) -> [UInt8] {
        var out = key
        var i = out.count - 1
        while i >= 0 {
            if out[i] > 0 { out[i] -= 1; break }
            out[i] = 0xff
            i -= 1
        }
        return out
    }
}

extension DataType {
    var nftName: String {
        switch self {
        case .verdict: return "verdict"
        case .ipv4Address: return "ipv4_addr"
        case .ipv6Address: return "ipv6_addr"
        case .inetProtocol: return "inet_proto"
        case .inetService: return "inet_service"
        case .interfaceName: return "ifname"
        }
    }

    func format(_ b: [UInt8]) -> String {
        switch self {
        case .ipv4Address where b.count >= 4:
            return b.prefix(4).map(String.init).joined(separator: ".")
        case .ipv6Address where b.count >= 16:
            return DataType.ipv6(b)
        case .inetProtocol where !b.isEmpty:
            return b[0] == 6 ? "tcp" : b[0] == 17 ? "udp" : "\(b[0])"
        case .inetService where b.count >= 2:
            return "\(UInt16(b[0]) << 8 | UInt16(b[1]))"
        case .interfaceName:
            return "\"" + String(decoding: b.prefix { $0 != 0 }, as: UTF8.self) + "\""
        default:
            return "0x" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }

    /// RFC 5952: the longest run of two or more zero groups becomes `::`.
    static func ipv6(_ b: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":"), tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }
}

extension Hook {
    var nftName: String {
        switch self {
        case .prerouting: return "prerouting"
        case .input: return "input"
        case .forward: return "forward"
        case .output: return "output"
        case .postrouting: return "postrouting"
        }
    }
}
