import Testing
@testable import PortForwarding

@Suite("PROXY-protocol mappings in the table and the JSON")
struct ProxyProtocolMappingTests {
    @Test("a PROXY-protocol mapping is relay-only, kept in a relay map, and its comment reads back", arguments: [
        ("8080", "10.0.0.2:80", ProxyProtocol.v1, TableLayout.MapName.loopback4),
        ("192.0.2.10:8080", "10.0.0.2:80", .v2, .loopback4),
        ("[::]:8080", "10.0.0.2:80", .v2, .relay6to4),
        ("8080", "[fd00::2]:80", .v1, .loopback6),
    ])
    func stored(host: String, target: String, version: ProxyProtocol, map: TableLayout.MapName) throws {
        let m = try Mapping.parse(host: host, target: target, comment: "mail").proxying(version)
        #expect(m.isRelayOnly)
        #expect(TableLayout.map(for: m) == map)
        #expect(!map.isKernelPath)
        let text = TableLayout.elementComment(for: m)
        #expect(text.hasSuffix("proxy-protocol \(version.rawValue) # mail"))
        #expect(TableReader.parseComment(text, map: map) == m)
        // Without the suffix it is another mapping; with a version nobody wrote, none.
        let plain = try Mapping.parse(host: host, target: target, comment: "mail")
        #expect(plain != m)
        #expect(TableReader.parseComment(text.replacingOccurrences("proxy-protocol \(version.rawValue)", "proxy-protocol v3"), map: map) == nil)
    }

    @Test("UDP and SCTP are refused, and unknown versions")
    func refused() throws {
        let udp = try Mapping.parse(host: "5353", target: "10.0.0.2:53", proto: "udp")
        #expect(throws: MappingError.self) { try udp.proxying(.v1) }
        #expect(throws: MappingError.invalid("--proxy-protocol 'v3': give v1 (text) or v2 (binary)")) { try ProxyProtocol.parse("v3") }
        #expect(throws: MappingError.self) {
            try MappingFile.parse(#"[{"host": "5353", "target": "10.0.0.2:53", "proto": "udp", "proxy_protocol": "v1"}]"#)
        }
    }

    @Test("ls --json prints proxy_protocol and apply reads it back")
    func json() throws {
        let mappings = [
            try Mapping.parse(host: "8080", target: "10.0.0.2:80").proxying(.v1),
            try Mapping.parse(host: "8081", target: "10.0.0.2:81"),
        ]
        let text = MappingFile.render(mappings.map { PublishedMapping(mapping: $0, map: TableLayout.map(for: $0), packets: 0, bytes: 0) })
        #expect(text.contains("\"proxy_protocol\": \"v1\""))
        #expect(text.contains("\"proxy_protocol\": null"))
        #expect(try MappingFile.parse(text) == mappings)
    }
}

private extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String {
        var out = "", rest = Substring(self)
        while let r = rest.range(of: a) { out += rest[..<r.lowerBound] + b; rest = rest[r.upperBound...] }
        return out + rest
    }
}
