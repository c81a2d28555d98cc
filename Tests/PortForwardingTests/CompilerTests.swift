import Testing
import NFTables
@testable import PortForwarding

@Suite("Compiling mappings into map elements, and reading them back")
struct CompilerTests {
    @Test("a wildcard IPv4 mapping is one element of dnat4_any keyed by proto . port")
    func wildcardV4() throws {
        let m = try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: "web")
        #expect(TableLayout.map(for: m) == .dnat4Any)
        let elements = TableLayout.elements(for: m)
        #expect(elements == [Element(key: [6, 0, 0, 0, 0x1f, 0x90, 0, 0], value: [10, 0, 0, 2, 0, 80, 0, 0],
                                     comment: "8080/tcp -> 10.0.0.2:80 # web")])
    }

    @Test("a bound IPv6 UDP mapping is keyed by address . proto . port")
    func boundV6() throws {
        let m = try Mapping.parse(host: "[2001:db8::1]:53", target: "[2001:db8::2]:5353", proto: "udp")
        #expect(TableLayout.map(for: m) == .dnat6Addr)
        let e = try #require(TableLayout.elements(for: m).first)
        #expect(e.key == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1] + [17, 0, 0, 0, 0, 53, 0, 0])
        #expect(e.value == [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [2] + [0x14, 0xe9, 0, 0])
    }

    @Test("a shifted range becomes one element per port, each to its own offset")
    func range() throws {
        let m = try Mapping.parse(host: "8000-8002", target: "10.0.0.2:9000-9002", proto: "sctp")
        let elements = TableLayout.elements(for: m)
        #expect(elements.count == 3)
        #expect(elements.map { Array($0.key[4...5]) } == [[0x1f, 0x40], [0x1f, 0x41], [0x1f, 0x42]])
        #expect(elements.map { Array($0.value[4...5]) } == [[0x23, 0x28], [0x23, 0x29], [0x23, 0x2a]])
        #expect(elements.allSatisfy { $0.key[0] == 132 && $0.comment == "8000-8002/sctp -> 10.0.0.2:9000-9002" })
    }

    @Test("loopback-bound mappings go to the relay-only maps")
    func loopback() throws {
        #expect(TableLayout.map(for: try Mapping.parse(host: "127.0.0.1:8080", target: "10.0.0.2:80")) == .loopback4)
        #expect(TableLayout.map(for: try Mapping.parse(host: "[::1]:8080", target: "[fd00::2]:80")) == .loopback6)
    }

    @Test("mappings between families go to the relay maps, a wildcard keyed by the unspecified address")
    func crossFamily() throws {
        let m = try Mapping.parse(host: "[::]:8080", target: "10.0.0.2:80")
        #expect(TableLayout.map(for: m) == .relay6to4)
        #expect(m.isRelayOnly && m.hostFamily == .ipv6)
        let e = try #require(TableLayout.elements(for: m).first)
        #expect(e.key == [UInt8](repeating: 0, count: 16) + [6, 0, 0, 0, 0x1f, 0x90, 0, 0])
        #expect(e.value == [10, 0, 0, 2, 0, 80, 0, 0])
        #expect(TableReader.parseComment(TableLayout.elementComment(for: m), map: .relay6to4) == m)
        let spec = TableLayout.mapSpec(.relay4to6)
        #expect(spec.keyLength == 12 && spec.valueLength == 20)
    }

    @Test("every map's key and value lengths match its concatenated types")
    func mapSpecs() {
        let spec = TableLayout.mapSpec(.dnat6Addr)
        #expect(spec.keyLength == 24 && spec.valueLength == 20)
        #expect(DataType.concat(spec.key) == (((8 << 6) | 12) << 6) | 13)
        #expect(TableLayout.mapSpec(.dnat4Any).keyLength == 8)
    }

    @Test("element comments read back into the same mapping, in the right map only")
    func commentRoundTrip() throws {
        for (h, t, p, c) in [("8080", "10.0.0.2:80", "tcp", "web"), ("[2001:db8::1]:53", "[2001:db8::2]:53", "udp", ""),
                             ("8000-8099", "10.0.0.2:9000-9099", "sctp", "a range")] {
            let m = try Mapping.parse(host: h, target: t, proto: p, comment: c)
            let text = TableLayout.elementComment(for: m)
            #expect(TableReader.parseComment(text, map: TableLayout.map(for: m)) == m)
            #expect(TableReader.parseComment(text, map: .loopback6) == nil)
        }
        #expect(TableReader.parseComment("hello", map: .dnat4Any) == nil)
        #expect(TableReader.parseComment("8080/tcp ->  10.0.0.2:80", map: .dnat4Any) == nil) // not canonical
    }

    @Test("the fixed rules: 11 in publish (4 of them the allow-lists'), one jump per base chain, none per port")
    func rules() {
        let rules = TableLayout.rules
        #expect(rules.filter { $0.rule.chain == "publish" }.count == 11)
        #expect(rules.filter { $0.rule.chain == "prerouting" }.map(\.rule.expressions) == [[.verdict(.jump("publish"))]])
        #expect(rules.filter { $0.rule.chain == "output" }.count == 1)
    }
}
