import Testing
@testable import PortForwarding
import NFTables
import NetworkAddress

@Suite("Allow-lists: parsing, checking, the JSON form and the kernel elements")
struct AllowListParsingTests {
    let web = try! Mapping.parse(host: "8080", target: "10.0.0.2:80")

    @Test("networks are sorted; host bits, other families, overlaps, twins and non-CIDR text are refused with the reason")
    func checks() throws {
        let m = try web.allowing(["192.168.1.0/24", "10.0.0.0/8", "127.0.0.1/32"])
        #expect(m.allow.map(\.description) == ["10.0.0.0/8", "127.0.0.1/32", "192.168.1.0/24"])
        #expect(m != web && m.label == web.label && m.conflicts(with: web))   // conflict rules unchanged
        func refusal(_ texts: [String], on mapping: Mapping? = nil) -> String {
            do { _ = try (mapping ?? web).allowing(texts); return "accepted" } catch { return error.description }
        }
        #expect(refusal(["192.168.1.1/24"]) == "--allow: subnet '192.168.1.1/24' has host bits set: did you mean 192.168.1.0/24?")
        #expect(refusal(["fd00::/64"]) == "--allow fd00::/64 is ipv6, but the clients of 8080 are ipv4: give ipv4 networks")
        #expect(refusal(["10.0.0.0/8", "10.1.0.0/16"]) == "--allow 10.1.0.0/16 overlaps 10.0.0.0/8: list each client address once (keep the wider network)")
        #expect(refusal(["10.0.0.0/8", "10.0.0.0/8"]) == "--allow 10.0.0.0/8 is listed twice")
        #expect(refusal(["192.168.1.7"]).hasPrefix("--allow: subnet '192.168.1.7': expected ADDRESS/PREFIX"))
        #expect(refusal(["0.0.0.0/0"]).contains("the prefix length must be 1-32"))
        // A cross-family mapping takes its clients' family (the host side's).
        let cross = try Mapping.parse(host: "[::]:8080", target: "10.0.0.2:80")
        #expect(refusal(["fd00::/64"], on: cross) == "accepted")
        #expect(refusal(["10.0.0.0/8"], on: cross).contains("the clients of [::]:8080 are ipv6"))
    }

    @Test("ls --json's \"allow\" reads back through apply's parser; a bad entry names itself")
    func json() throws {
        let m = try web.allowing(["192.168.1.0/24"])
        let text = MappingFile.render([PublishedMapping(mapping: m, map: .dnat4Any, packets: 0, bytes: 0)])
        #expect(text.contains("\"allow\": [\n      \"192.168.1.0/24\"\n    ]"))
        #expect(try MappingFile.parse(text) == [m])
        #expect(try MappingFile.parse(#"[{"host": "8080", "target": "10.0.0.2:80"}]"#) == [web])
        #expect(throws: MappingError.invalid("entry 1: \"allow\" must be an array of CIDR strings, e.g. [\"192.168.1.0/24\"]")) {
            try MappingFile.parse(#"[{"host": "8080", "target": "10.0.0.2:80", "allow": "10.0.0.0/8"}]"#)
        }
        #expect(throws: MappingError.invalid("entry 1: --allow: subnet '10.0.0.1/8' has host bits set: did you mean 10.0.0.0/8?")) {
            try MappingFile.parse(#"[{"host": "8080", "target": "10.0.0.2:80", "allow": ["10.0.0.1/8"]}]"#)
        }
    }

    @Test("elements: restrict and refuse per host port, one allow range per network, its match elements per port; the allow element reads back to its network only")
    func elements() throws {
        let m = try Mapping.parse(host: "192.0.2.10:9000-9001", target: "10.0.0.2:9000-9001", proto: "udp").allowing(["198.51.100.0/24"])
        let elements = TableLayout.accessElements(for: m)
        #expect(elements.map(\.set.name) == ["restrict4_addr", "restrict4_addr", "refuse4_addr", "refuse4_addr", "allow4_addr",
                                             "match4_addr_24", "match4_addr_24"])
        #expect(elements.last!.element.key == [198, 51, 100, 0] + [192, 0, 2, 10] + [17, 0, 0, 0] + [0x23, 0x29, 0, 0])
        let allow = elements[4].element
        #expect(allow.key == [198, 51, 100, 0] + [192, 0, 2, 10] + [17, 0, 0, 0] + [0x23, 0x28, 0, 0])
        #expect(allow.keyEnd == [198, 51, 100, 255] + [192, 0, 2, 10] + [17, 0, 0, 0] + [0x23, 0x29, 0, 0])
        let record = ElementRecord(key: allow.key, keyEnd: allow.keyEnd!)
        #expect(TableReader.allowedSubnet(record, for: m)?.description == "198.51.100.0/24")
        // A range that is no network, or keyed for another port range, is not ours.
        #expect(TableReader.allowedSubnet(ElementRecord(key: allow.key, keyEnd: [198, 51, 100, 254] + Array(allow.keyEnd!.dropFirst(4))), for: m) == nil)
        let other = try Mapping.parse(host: "192.0.2.10:9000", target: "10.0.0.2:9000", proto: "udp")
        #expect(TableReader.allowedSubnet(record, for: other) == nil)
        #expect(TableLayout.accessElements(for: web).isEmpty)
    }

    @Test("a network between prefix levels expands into the level above it; too many elements is refused")
    func matchExpansion() throws {
        let m = try Mapping.parse(host: "8080", target: "10.0.0.2:80", proto: "tcp").allowing(["10.1.0.0/22", "192.0.2.7/32", "172.16.0.0/12"])
        let match = TableLayout.accessElements(for: m).filter { $0.set.role == .match }
        #expect(Set(match.map(\.set.name)) == ["match4_any_24", "match4_any_32", "match4_any_16"])
        #expect(match.filter { $0.set.name == "match4_any_24" }.map { Array($0.element.key.prefix(4)) }.sorted { $0.lexicographicallyPrecedes($1) }
                == [[10, 1, 0, 0], [10, 1, 1, 0], [10, 1, 2, 0], [10, 1, 3, 0]])
        #expect(match.filter { $0.set.name == "match4_any_16" }.count == 16)
        #expect(throws: MappingError.self) {
            try Mapping.parse(host: "1000-2000", target: "10.0.0.2:1000-2000", proto: "tcp").allowing(["10.128.0.0/9"])
        }
    }
}
