import Testing
import NFTables
import NetworkAddress
@testable import PortForwarding

@Suite("Masquerade rules: subnets, their elements, the document")
struct MasqueradeTests {
    @Test("subnets parse in CIDR form and know their range", arguments: [
        ("10.88.0.0/24", "10.88.0.255", "10.88.1.0"),
        ("172.17.0.0/16", "172.17.255.255", "172.18.0.0"),
        ("10.0.0.8/29", "10.0.0.15", "10.0.0.16"),
        ("192.0.2.1/32", "192.0.2.1", "192.0.2.2"),
        ("fd88::/64", "fd88::ffff:ffff:ffff:ffff", "fd88:0:0:1::"),
        ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"),
    ])
    func ranges(text: String, last: String, next: String) throws {
        let subnet = try Subnet.parse(text)
        #expect(subnet.description == text)
        #expect(subnet.last == IPAddress.parse(last)!.bytes)
        #expect(subnet.next == IPAddress.parse(next)!.bytes)
    }

    @Test("a subnet reaching the top of the address space has no range end")
    func top() throws {
        #expect(try Subnet.parse("255.255.255.0/24").next == nil)
        let rule = try MasqueradeRule.parse(subnet: "255.255.255.0/24", outNot: nil)
        #expect(TableLayout.elements(for: rule).count == 1)
    }

    @Test("bad subnets and interface names are refused, saying what would be right", arguments: [
        ("10.88.0.5/24", nil, "subnet '10.88.0.5/24' has host bits set: did you mean 10.88.0.0/24?"),
        ("fd88::1/64", nil, "subnet 'fd88::1/64' has host bits set: did you mean fd88::/64?"),
        ("10.88.0.0", nil, "subnet '10.88.0.0': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64"),
        ("10.88.0.0/33", nil, "subnet '10.88.0.0/33': the prefix length must be 1-32"),
        ("0.0.0.0/0", nil, "subnet '0.0.0.0/0': the prefix length must be 1-32"),
        ("10.88.0.0/+24", nil, "subnet '10.88.0.0/+24': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64"),
        ("127.0.0.0/8", nil, "subnet '127.0.0.0/8': loopback traffic never leaves the host, so it is never masqueraded"),
        ("224.0.0.0/4", nil, "subnet '224.0.0.0/4': 224.0.0.0 is a multicast address"),
        ("10.88.0.0/24", "", "interface name '': use 1-15 printable characters without '/', ':' or spaces (e.g. br0)"),
        ("10.88.0.0/24", "a-very-long-bridge0", "interface name 'a-very-long-bridge0': use 1-15 printable characters without '/', ':' or spaces (e.g. br0)"),
        ("10.88.0.0/24", "br 0", "interface name 'br 0': use 1-15 printable characters without '/', ':' or spaces (e.g. br0)"),
    ] as [(String, String?, String)])
    func bad(subnet: String, outNot: String?, message: String) {
        #expect(throws: MappingError.invalid(message)) { try MasqueradeRule.parse(subnet: subnet, outNot: outNot) }
    }

    @Test("overlapping subnets are refused, adjacent ones are fine")
    func overlaps() throws {
        let a = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        let b = try MasqueradeRule.parse(subnet: "10.88.0.0/16", outNot: nil)
        let c = try MasqueradeRule.parse(subnet: "10.88.1.0/24", outNot: nil)
        #expect(throws: MappingError.invalid("masquerade 10.88.0.0/24 out-not br0 overlaps masquerade 10.88.0.0/16: give each source address one rule")) {
            try MasqueradeRule.checkNoOverlaps([a, b])
        }
        try MasqueradeRule.checkNoOverlaps([a, c])
        #expect(!a.subnet.overlaps(try Subnet.parse("fd88::/64")))
    }

    @Test("a rule is a range in masq4 and, with out-not, one (subnet . interface) range in masq4_keep")
    func elements() throws {
        let rule = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        let elements = TableLayout.elements(for: rule)
        #expect(elements.map(\.set) == [.masq4, .masq4, .masq4Keep])
        #expect(elements[0].element == Element(key: [10, 88, 0, 0], comment: "10.88.0.0/24 out-not br0"))
        #expect(elements[1].element == Element(key: [10, 88, 1, 0], intervalEnd: true))
        let br0: [UInt8] = [0x62, 0x72, 0x30] + [UInt8](repeating: 0, count: 13)
        #expect(elements[2].element == Element(key: [10, 88, 0, 0] + br0, comment: "10.88.0.0/24 out-not br0", keyEnd: [10, 88, 0, 255] + br0))
        #expect(MasqueradeRule.parseLabel("10.88.0.0/24 out-not br0") == rule)
        #expect(MasqueradeRule.parseLabel("10.88.0.0/24 out br0") == nil)
    }

    @Test("the document: ls --json's object round-trips; a bare array leaves masquerade alone")
    func document() throws {
        let mapping = try Mapping.parse(host: "8080", target: "10.88.0.2:80")
        let rules = [try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0"), try MasqueradeRule.parse(subnet: "fd88::/64", outNot: nil)]
        let snapshot = TableSnapshot(exists: true, generation: 1,
                                     mappings: [PublishedMapping(mapping: mapping, map: .dnat4Any, packets: 3, bytes: 180)], masquerade: rules)
        let text = MappingFile.render(snapshot)
        #expect(try StateDocument.parse(text) == StateDocument(mappings: [mapping], masquerade: rules))
        #expect(try StateDocument.parse(#"[{"host": "8080", "target": "10.88.0.2:80"}]"#) == StateDocument(mappings: [mapping], masquerade: nil))
        #expect(try StateDocument.parse(#"{"mappings": [], "masquerade": []}"#) == StateDocument(mappings: [], masquerade: []))
        // No "masquerade": the rules are left alone; no "mappings": refused, not "remove them all".
        #expect(try StateDocument.parse(#"{"mappings": []}"#) == StateDocument(mappings: [], masquerade: nil))
        #expect(throws: MappingError.invalid(#"the document has no "mappings" (write "mappings": [] to remove every mapping)"#)) {
            try StateDocument.parse(#"{"masquerade": []}"#)
        }
        #expect(throws: MappingError.invalid("masquerade entry 1: subnet '10.88.0.1/24' has host bits set: did you mean 10.88.0.0/24?")) {
            try StateDocument.parse(#"{"mappings": [], "masquerade": [{"subnet": "10.88.0.1/24"}]}"#)
        }
        #expect(throws: MappingError.invalid("masquerade entry 1: unknown field 'out' (known: out-not, subnet)")) {
            try StateDocument.parse(#"{"mappings": [], "masquerade": [{"subnet": "10.88.0.0/24", "out": "br0"}]}"#)
        }
    }
}
