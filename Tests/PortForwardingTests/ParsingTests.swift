import Testing
@testable import PortForwarding

@Suite("Parsing and validation")
struct ParsingTests {
    @Test("good host and target forms", arguments: [
        ("8080", "10.0.0.2:80", "8080/tcp -> 10.0.0.2:80"),
        ("0.0.0.0:8080", "10.0.0.2:80", "8080/tcp -> 10.0.0.2:80"),
        ("192.0.2.10:8080", "10.0.0.2:80", "192.0.2.10:8080/tcp -> 10.0.0.2:80"),
        ("8000-8099", "10.0.0.2:9000-9099", "8000-8099/tcp -> 10.0.0.2:9000-9099"),
        ("[::]:8080", "[fd00::2]:80", "8080/tcp -> [fd00::2]:80"),
        ("[2001:db8::10]:8080", "[fd00:0::2]:80", "[2001:db8::10]:8080/tcp -> [fd00::2]:80"),
        ("127.0.0.1:8080", "10.0.0.2:80", "127.0.0.1:8080/tcp -> 10.0.0.2:80"),
        ("[::1]:8080", "[::1]:80", "[::1]:8080/tcp -> [::1]:80"),
        ("65535", "10.0.0.2:1", "65535/tcp -> 10.0.0.2:1"),
        // Between families: relay-only mappings, written with the host family explicit.
        ("[::]:8080", "10.0.0.2:80", "[::]:8080/tcp -> 10.0.0.2:80"),
        ("[::1]:8080", "127.0.0.1:80", "[::1]:8080/tcp -> 127.0.0.1:80"),
        ("0.0.0.0:8080", "[fd00::2]:80", "0.0.0.0:8080/tcp -> [fd00::2]:80"),
        ("192.0.2.10:8080", "[fd00::2]:80", "192.0.2.10:8080/tcp -> [fd00::2]:80"),
    ])
    func good(host: String, target: String, label: String) throws {
        let m = try Mapping.parse(host: host, target: target)
        #expect(m.label == label)
    }

    @Test("bad input is refused with a message saying what would be right", arguments: [
        ("0", "10.0.0.2:80", "tcp", "host: port 0 is out of range: use 1-65535"),
        ("70000", "10.0.0.2:80", "tcp", "host: port 70000 is out of range: use 1-65535"),
        ("80a", "10.0.0.2:80", "tcp", "host: '80a' is not a port number: use 1-65535 in decimal digits"),
        ("8080", "10.0.0.2:80", "icmp", "unknown protocol 'icmp': use tcp, udp or sctp"),
        ("8099-8000", "10.0.0.2:80-99", "tcp", "host: range 8099-8000 is reversed: write 8000-8099"),
        ("8000-8099", "10.0.0.2:9000-9009", "tcp", "host ports 8000-8099 (100) and target ports 9000-9009 (10) differ in length: give ranges of the same length"),
        ("8080", "80", "tcp", "target '80' needs an address: write ADDR:PORT, e.g. 10.0.0.2:80"),
        ("fd00::1:8080", "[fd00::2]:80", "tcp", "host 'fd00::1:8080': put an IPv6 address in brackets, e.g. [fd00::1:8080]:8080 or [::1]:8080"),
        ("1.2.3:8080", "10.0.0.2:80", "tcp", "host '1.2.3:8080': '1.2.3' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("010.0.0.1:8080", "10.0.0.2:80", "tcp", "host '010.0.0.1:8080': '010.0.0.1' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("256.0.0.1:8080", "10.0.0.2:80", "tcp", "host '256.0.0.1:8080': '256.0.0.1' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("[fd00::1:8080", "[fd00::2]:80", "tcp", "host '[fd00::1:8080': missing ']' after the IPv6 address, e.g. [fd00::2]:80"),
        ("[fd00::1]", "[fd00::2]:80", "tcp", "host '[fd00::1]': a port must follow the address, e.g. [fd00::1]:8080"),
        ("8080", "0.0.0.0:80", "tcp", "target address 0.0.0.0 is not a host: name the address the service listens on"),
        ("8080", "127.0.0.1:80", "tcp", "target 127.0.0.1:80 is a loopback address: only a loopback host address (127.0.0.1, [::1]) may lead to it; publish the service on an address the kernel can reach"),
        ("0.0.0.0:5432", "[::1]:5432", "tcp", "target [::1]:5432 is a loopback address: only a loopback host address (127.0.0.1, [::1]) may lead to it; publish the service on an address the kernel can reach"),
        ("127.0.0.1:8080", "127.0.0.1:8080", "tcp", "host 127.0.0.1:8080 and target 127.0.0.1:8080 are the same: the mapping would loop back onto itself"),
        ("8080", "224.0.0.1:80", "udp", "target address 224.0.0.1 is a multicast address: use a unicast address"),
        ("8080", "255.255.255.255:80", "udp", "target address 255.255.255.255 is the broadcast address: use a unicast address"),
        ("[::ffff:10.0.0.1]:8080", "[fd00::2]:80", "tcp", "host address ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address (write the IPv4 address itself): use a unicast address"),
        ("8080", "[::ffff:127.0.0.1]:80", "tcp", "target address ::ffff:127.0.0.1 is an IPv4-mapped IPv6 address (write the IPv4 address itself): use a unicast address"),
        ("[ff02::1]:8080", "[fd00::2]:80", "udp", "host address ff02::1 is a multicast address: use a unicast address"),
        ("127.0.0.1:9000", "10.0.0.2:9000", "sctp", "sctp 127.0.0.1:9000 -> 10.0.0.2:9000 could only be served by the userland relay, which does not relay sctp: use an address of the target's family that is not loopback"),
        ("", "10.0.0.2:80", "tcp", "host is empty: write [ADDR:]PORT, e.g. 8080 or 10.0.0.2:80"),
    ])
    func bad(host: String, target: String, proto: String, message: String) {
        #expect(throws: MappingError.invalid(message)) {
            try Mapping.parse(host: host, target: target, proto: proto)
        }
    }

    @Test("the stored comment (mapping and user text) must fit nft's 127 bytes")
    func commentRoom() throws {
        let host = "[2001:db8:85a3:8d3:1319:8a2e:370:7348]:10000-10099", target = "[fd00:1234:5678:9abc::2]:20000-20099"
        #expect(throws: MappingError.invalid("comment is too long for this mapping: 30 bytes fit beside its addresses, 31 were given")) {
            try Mapping.parse(host: host, target: target, comment: String(repeating: "c", count: 31))
        }
        let fits = try Mapping.parse(host: host, target: target, comment: String(repeating: "c", count: 30))
        #expect(TableLayout.elementComment(for: fits).utf8.count == 127)
    }

    @Test func comments() throws {
        #expect(try Mapping.parse(host: "80", target: "10.0.0.2:80", comment: "web server").comment == "web server")
        #expect(throws: MappingError.self) { try Mapping.parse(host: "80", target: "10.0.0.2:80", comment: "a\"b") }
        #expect(throws: MappingError.self) { try Mapping.parse(host: "80", target: "10.0.0.2:80", comment: "a # b") }
        #expect(throws: MappingError.self) { try Mapping.parse(host: "80", target: "10.0.0.2:80", comment: String(repeating: "x", count: 65)) }
    }

    @Test("protocols parse in any case and only the three known")
    func protocols() throws {
        #expect(try Proto.parse("TCP") == .tcp)
        #expect(try Proto.parse("sctp") == .sctp)
        #expect(throws: MappingError.self) { try Proto.parse("tcp6") }
    }

    @Test("conflicts: same proto and family, overlapping address and ports")
    func conflicts() throws {
        func m(_ h: String, _ t: String, _ p: String = "tcp") throws -> Mapping { try Mapping.parse(host: h, target: t, proto: p) }
        let wildcard = try m("8080", "10.0.0.2:80")
        #expect(wildcard.conflicts(with: try m("192.0.2.1:8080", "10.0.0.3:80")))       // wildcard vs bound
        #expect(wildcard.conflicts(with: try m("127.0.0.1:8080", "10.0.0.3:80")))       // wildcard covers loopback
        #expect(wildcard.conflicts(with: try m("8000-8080", "10.0.0.3:1-81")))          // overlapping range
        #expect(!wildcard.conflicts(with: try m("8080", "[fd00::2]:80")))               // other family
        #expect(wildcard.conflicts(with: try m("0.0.0.0:8080", "[fd00::2]:80")))        // same host family, relay-only
        #expect(!wildcard.conflicts(with: try m("[::]:8080", "10.0.0.2:80")))           // IPv6 clients, IPv4 target
        #expect(try m("[::]:8080", "10.0.0.2:80").conflicts(with: try m("[::1]:8080", "[::1]:80")))
        #expect(!wildcard.conflicts(with: try m("8080", "10.0.0.2:80", "udp")))         // other protocol
        #expect(!wildcard.conflicts(with: try m("8081-8090", "10.0.0.2:81-90")))        // adjacent range
        #expect(!(try m("192.0.2.1:8080", "10.0.0.2:80")).conflicts(with: try m("192.0.2.2:8080", "10.0.0.2:80")))
    }

    @Test("a list with two claims on one port is refused, naming both")
    func listConflicts() throws {
        let a = try Mapping.parse(host: "8000-8010", target: "10.0.0.2:8000-8010")
        let b = try Mapping.parse(host: "8010", target: "10.0.0.3:80")
        #expect(throws: MappingError.conflict(new: b.description, existing: a.description)) {
            try Publisher.checkNoConflicts([a, b])
        }
        #expect(throws: MappingError.self) { try Publisher.checkNoConflicts([a, a]) }
        try Publisher.checkNoConflicts([a, try Mapping.parse(host: "8010", target: "10.0.0.3:80", proto: "udp")])
    }
}
