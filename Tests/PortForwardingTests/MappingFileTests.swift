import Testing
@testable import PortForwarding

@Suite("The JSON of ls --json and apply")
struct MappingFileTests {
    @Test("what ls --json prints, apply reads back to the same mappings")
    func roundTrip() throws {
        let mappings = [
            try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: "web \"x\"".replacingQuote()),
            try Mapping.parse(host: "[2001:db8::1]:53", target: "[2001:db8::2]:53", proto: "udp"),
        ]
        let published = mappings.map { PublishedMapping(mapping: $0, map: TableLayout.map(for: $0), packets: 3, bytes: 180) }
        let text = MappingFile.render(published)
        #expect(try MappingFile.parse(text) == mappings)
        #expect(text.contains("\"packets\": 3"))
    }

    @Test("minimal entries take defaults")
    func defaults() throws {
        let parsed = try MappingFile.parse(#"[{"host": "8080", "target": "10.0.0.2:80"}]"#)
        #expect(parsed == [try Mapping.parse(host: "8080", target: "10.0.0.2:80")])
        #expect(try MappingFile.parse("[]") == [])
    }

    @Test("a bad entry fails the whole file, naming the entry", arguments: [
        (#"{"host": "8080"}"#, "unknown top-level field 'host' (known: mappings, masquerade)"),
        (#""text""#, #"mapping file must be a JSON object {"mappings": [...], "masquerade": [...]} as 'nftfwd ls --json' prints, or an array of mappings"#),
        (#"[{"host": "8080", "target": "10.0.0.2:80"}, {"host": "0", "target": "10.0.0.2:80"}]"#, "entry 2: host: port 0 is out of range: use 1-65535"),
        (#"[{"host": "8080"}]"#, "entry 1: missing \"target\""),
        (#"[{"host": 8080, "target": "10.0.0.2:80"}]"#, "entry 1: \"host\" must be a string"),
        (#"[{"hots": "8080", "target": "10.0.0.2:80"}]"#, "entry 1: unknown field 'hots' (known: allow, bytes, comment, family, host, kernel, packets, proto, proxy_protocol, refused, relay, target)"),
        (#"[{"host": "8080", "target": "10.0.0.2:80", "family": "ipv6"}]"#, "entry 1: family \"ipv6\" does not match host 8080, which is ipv4"),
        ("[", "mapping file is not valid JSON: line 1: unexpected end of input"),
    ])
    func bad(text: String, message: String) {
        #expect(throws: MappingError.invalid(message)) { try MappingFile.parse(text) }
    }

    @Test func jsonEscapes() throws {
        let value = try JSON.parse(#"{"a": "x\u0041\n\"", "b": [1, 2.5, true, null]}"#)
        #expect(value["a"] == .string("xA\n\""))
        #expect(try JSON.parse(value.rendered()) == value)
    }
}

private extension String {
    // Comments may not hold quotes: the test uses a quote-free variant of the same text.
    func replacingQuote() -> String { String(self.filter { $0 != "\"" }) }
}
