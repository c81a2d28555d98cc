import Testing
import NetworkAddress
#if canImport(Glibc)
import Glibc
#endif
@testable import PortForwarding

/// The fast paths `apply` of a large file takes (`Endpoint.simple`, the one-pass field
/// reading of `MappingFile`, plain-digit numbers, IPv4 text, the element-comment bound) must
/// accept exactly what the full paths accept, with the same values, and leave every refusal,
/// and its words, to them. Each is checked against the full path, or against the code it
/// replaced, on generated input that is mostly wrong.
@Suite("Parsing fast paths: the same values and the same refusals as the full paths")
struct ParseFastPathTests {
    /// SplitMix64 with a fixed seed, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// The outcome of a throwing parse as one comparable text: the value, or the refusal's words.
    static func outcome<T>(_ body: () throws(MappingError) -> T) -> String {
        do { return "ok \(try body())" } catch { return "error \(error)" }
    }

    @Test("Endpoint: the byte fast path gives what the full grammar gives, for near-misses of every form")
    func endpoints() {
        let fixed = ["8080", "1", "65535", "65536", "0", "08080", "8000-8099", "8099-8000", "8080-", "-8080", "80--81",
                     "10.0.0.2:80", "10.0.0.2:", ":80", "10.0.0.2:80:81", "10.0.0.256:80", "10.0.0.02:80", "10.0.0:80",
                     "10.0.0.2.3:80", "1.2.3.4:1-65535", "0.0.0.0:80", "255.255.255.255:80", "224.0.0.1:80",
                     "127.0.0.1:9000", "10.0.0.2:0", "10.0.0.2:99999", "10..0.2:80", ".10.0.0.2:80", "10.0.0.2.:80",
                     "", ":", "-", ".", "8080/tcp", " 8080", "8080 ", "[::1]:80", "[fd00::2]:80-81", "fd00::2:80"]
        var inputs = fixed
        var rng = Generator(state: 0x5eed)
        let alphabet = Array("0123456789.:-".unicodeScalars) + Array("0123456789".unicodeScalars) + ["[", "]", "/", " ", "a", "\u{301}", "\u{202e}"]
        for _ in 0..<20_000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...14, using: &rng) { s.append(alphabet.randomElement(using: &rng)!) }
            inputs.append(String(s))
        }
        for text in inputs {
            let fast = ParseFastPathTests.outcome { () throws(MappingError) in try Endpoint.parse(text, what: "host") }
            let full = ParseFastPathTests.outcome { () throws(MappingError) in try Endpoint.parseFully(text, what: "host") }
            #expect(fast == full, "\(Untrusted.escape(text))")
            if let simple = Endpoint.simple(text) { #expect(full == "ok \(simple)") }
        }
    }

    /// `MappingFile.mappings` as it was before the one-pass reading: `item[key]` per field
    /// and the known-field set.
    static func referenceMappings(from json: JSON) throws(MappingError) -> [Mapping] {
        guard case .array(let items) = json else { throw .invalid("not an array") }
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
        for (index, item) in items.enumerated() {
            let n = index + 1
            guard case .object(let fields) = item else { throw .invalid("entry \(n): expected an object") }
            for (key, _) in fields where !MappingFile.known.contains(key) {
                throw .invalid("entry \(n): unknown field '\(Untrusted.escape(key))' (known: \(MappingFile.known.sorted().joined(separator: ", ")))")
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
                    .allowing(try allowList(item["allow"], entry: n))
                    .proxying(try proxyProtocol(item["proxy_protocol"], entry: n))
                if case .string(let family)? = item["family"], family != mapping.hostFamily.rawValue {
                    throw MappingError.invalid("family \"\(Untrusted.escape(family))\" does not match host \(mapping.hostText), which is \(mapping.hostFamily.rawValue)")
                }
                out.append(mapping)
            } catch {
                if case .invalid(let why) = error, why.hasPrefix("entry ") { throw error }
                throw .invalid("entry \(n): \(error)")
            }
        }
        return out
    }

    @Test("mapping entries: the one-pass field reading refuses and accepts as item[key] per field did")
    func mappingEntries() {
        var rng = Generator(state: 0xf11e)
        let keys = ["host", "target", "proto", "comment", "allow", "proxy_protocol", "family", "kernel", "packets", "bytes", "refused", "relay", "hots", "Host", ""]
        let values: [String: [JSON]] = [
            "host": [.string("8080"), .string("10.0.0.1:8080"), .string("[::]:8080"), .string("127.0.0.1:9000"), .string("08080"), .number(8080), .null],
            "target": [.string("10.0.0.2:80"), .string("[fd00::2]:80"), .string("127.0.0.1:9001"), .string("10.0.0.2"), .string("0.0.0.0:80"), .number(80)],
            "proto": [.string("tcp"), .string("udp"), .string("sctp"), .string("TCP"), .string("icmp"), .null],
            "comment": [.string(""), .string("web"), .string("a#b"), .string("e\u{202e}vil"), .string(String(repeating: "x", count: 70)), .bool(true)],
            "allow": [.array([]), .array([.string("192.168.1.0/24")]), .array([.string("fd00::/8")]), .array([.number(1)]), .string("10.0.0.0/8"), .null],
            "proxy_protocol": [.null, .string("v1"), .string("v2"), .string("v3"), .number(1)],
            "family": [.string("ipv4"), .string("ipv6"), .string("ipx"), .number(4)],
        ]
        for _ in 0..<3000 {
            var entries: [JSON] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                var fields: [(String, JSON)] = []
                // Usually a valid core, so the later checks are reached too.
                if Int.random(in: 0..<4, using: &rng) > 0 { fields.append(("host", .string(["8080", "10.0.0.1:8081", "[::]:8082"].randomElement(using: &rng)!))) }
                if Int.random(in: 0..<4, using: &rng) > 0 { fields.append(("target", .string(["10.0.0.2:80", "[fd00::2]:80"].randomElement(using: &rng)!))) }
                for _ in 0..<Int.random(in: 0...4, using: &rng) {
                    let key = keys.randomElement(using: &rng)!
                    fields.insert((key, values[key]?.randomElement(using: &rng) ?? .number(1)), at: Int.random(in: 0...fields.count, using: &rng))
                }
                entries.append(Int.random(in: 0..<40, using: &rng) == 0 ? .string("not an object") : .object(fields))
            }
            let document = JSON.array(entries)
            let now = ParseFastPathTests.outcome { () throws(MappingError) in try MappingFile.mappings(from: document, section: nil) }
            let before = ParseFastPathTests.outcome { () throws(MappingError) in try ParseFastPathTests.referenceMappings(from: document) }
            #expect(now == before, "\(document.rendered())")
        }
    }

    @Test("plain-digit numbers read as Double(text) reads them; anything else takes the full path", arguments: [
        "0", "7", "007", "123456789012345", "999999999999999", "1234567890123456", "12345678901234567890", "-1", "1.5", "1e5", "-0",
    ])
    func numbers(text: String) throws {
        #expect(try JSON.parse("[\(text)]") == .array([.number(try #require(Double(text)))]))
    }

    @Test("IPv4 text is what inet_ntop writes, for every kind of part")
    func ipv4Text() {
        var rng = Generator(state: 0x1234)
        let parts: [UInt32] = [0, 1, 9, 10, 99, 100, 199, 255]
        var values: [UInt32] = []
        for a in parts { for b in parts { values.append(a << 24 | b << 16 | (a ^ b) << 8 | b) } }
        for _ in 0..<2000 { values.append(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        for value in values {
            var network = value.bigEndian
            var buffer = [CChar](repeating: 0, count: 32)
            _ = inet_ntop(AF_INET, &network, &buffer, socklen_t(buffer.count))
            #expect(IPAddress(storage: .v4(value)).description == String(cString: buffer))
        }
    }

    @Test("the element comment's bound is never below its length, so skipping the check skips no refusal")
    func commentBound() throws {
        let hosts = ["65535", "1-65535", "255.255.255.254:65000-65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:1-65535", "[::]:10000-10099", "0.0.0.0:1-65535", "127.0.0.1:1-65535"]
        let targets = ["255.255.255.254:1-65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:1-65535", "127.0.0.1:1-65535", "10.0.0.2:10000-10099"]
        for host in hosts {
            for target in targets {
                for comment in ["", "x", String(repeating: "é", count: 20)] {
                    for proxy: ProxyProtocol? in [nil, .v1] {
                        guard let m = try? Mapping.parse(host: host, target: target, comment: comment).proxying(proxy) else { continue }
                        #expect(Mapping.storedCommentBound(m) >= TableLayout.elementComment(for: m).utf8.count, "\(m)")
                    }
                }
            }
        }
    }
}
