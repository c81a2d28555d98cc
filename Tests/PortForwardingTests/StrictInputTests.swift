import Testing
@testable import PortForwarding

/// Exactly the forms README and `add --help` name are accepted; everything that only looks
/// like them is refused with a message saying what to write.
@Suite("Strict input")
struct StrictInputTests {
    @Test("the accepted HOST forms", arguments: [
        ("8080", nil, "8080"),
        ("8000-8099", nil, "8000-8099"),
        ("1", nil, "1"),
        ("65535", nil, "65535"),
        ("192.0.2.10:8080", "192.0.2.10", "8080"),
        ("0.0.0.0:8080", "0.0.0.0", "8080"),
        ("192.0.2.10:8000-8099", "192.0.2.10", "8000-8099"),
        ("[2001:db8::10]:8080", "2001:db8::10", "8080"),
        ("[2001:DB8:0:0::10]:8000-8001", "2001:db8::10", "8000-8001"),   // RFC 4291 text: case, zero groups
        ("[::]:8080", "::", "8080"),
    ] as [(String, String?, String)])
    func accepted(text: String, address: String?, ports: String) throws {
        let e = try Endpoint.parse(text, what: "host")
        #expect(e.address?.description == address)
        #expect(e.ports.description == ports)
    }

    @Test("refused forms, each with what to write", arguments: [
        ("8080 ", "host '8080 ' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        (" 8080", "host ' 8080' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("\t8080", "host '\\t8080' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("8080\n", "host '8080\\n' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("8080\u{a0}", "host '8080\u{a0}' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("80\u{1b}[2J", "host '80\\x1b[2J' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("8000 - 8099", "host '8000 - 8099' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        ("+8080", "host: '+8080' is not a port number: use 1-65535 in decimal digits"),
        ("08080", "host: '08080' has a leading zero: write 8080"),
        ("8000-08099", "host: '08099' has a leading zero: write 8099"),
        ("0x1f90", "host: '0x1f90' is not a port number: use 1-65535 in decimal digits"),
        ("8080.0", "host: '8080.0' is not a port number: use 1-65535 in decimal digits"),
        ("１２３", "host: '１２３' is not a port number: use 1-65535 in decimal digits"),
        ("000", "host: port 0 is out of range: use 1-65535"),
        ("123456", "host: '123456' is not a port number: use 1-65535 in decimal digits"),
        ("8080-", "host: range '8080-' lacks a port on one side: write FIRST-LAST, e.g. 8000-8099"),
        ("-8080", "host: range '-8080' lacks a port on one side: write FIRST-LAST, e.g. 8000-8099"),
        ("8080--8090", "host: '-8090' is not a port number: use 1-65535 in decimal digits"),
        ("8080/tcp", "host '8080/tcp': give the protocol with --proto (\"proto\" in a file), e.g. 8080 --proto tcp"),
        ("192.0.2.1:53/UDP", "host '192.0.2.1:53/UDP': give the protocol with --proto (\"proto\" in a file), e.g. 192.0.2.1:53 --proto udp"),
        ("8080/http", "host: '8080/http' is not a port number: use 1-65535 in decimal digits"),
        (":8080", "host ':8080': an address must come before ':', e.g. 10.0.0.2:8080; or leave out ':' for every address"),
        ("10.0.0.1:", "host: a port number is missing: use 1-65535"),
        ("010.0.0.1:80", "host '010.0.0.1:80': '010.0.0.1' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("10.0.0.01:80", "host '10.0.0.01:80': '10.0.0.01' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("10.0.0.1.:80", "host '10.0.0.1.:80': '10.0.0.1.' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("0x7f.0.0.1:80", "host '0x7f.0.0.1:80': '0x7f.0.0.1' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("2130706433:80", "host '2130706433:80': '2130706433' is not an IPv4 address (four numbers 0-255 without leading zeros; IPv6 goes in brackets)"),
        ("[fe80::1%eth0]:80", "host '[fe80::1%eth0]:80': 'fe80::1%eth0' is not an IPv6 address (zone ids such as %eth0 are not accepted)"),
        ("[[::1]]:80", "host '[[::1]]:80': '[::1' is not an IPv6 address"),
        ("[::1]:", "host '[::1]:': a port must follow the address, e.g. [::1]:8080"),
        ("[::1]8080", "host '[::1]8080': a port must follow the address, e.g. [::1]:8080"),
        ("::1:8080", "host '::1:8080': put an IPv6 address in brackets, e.g. [::1:8080]:8080 or [::1]:8080"),
    ])
    func refused(text: String, message: String) {
        #expect(throws: MappingError.invalid(message)) { try Endpoint.parse(text, what: "host") }
    }

    @Test("IPv4-mapped and IPv4-compatible IPv6 addresses parse, then are refused as mapping addresses")
    func mappedAddresses() {
        #expect(throws: MappingError.invalid("host address ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address (write the IPv4 address itself): use a unicast address")) {
            try Mapping.parse(host: "[::ffff:10.0.0.1]:8080", target: "[fd00::2]:80")
        }
        #expect(throws: MappingError.invalid("target address ::10.0.0.2 is an IPv4-compatible IPv6 address (write the IPv4 address itself): use a unicast address")) {
            try Mapping.parse(host: "8080", target: "[::10.0.0.2]:80")
        }
    }

    @Test("TARGET needs an address; the protocol is only tcp, udp or sctp in any case, nothing around it")
    func targetAndProto() throws {
        #expect(throws: MappingError.invalid("target '80' needs an address: write ADDR:PORT, e.g. 10.0.0.2:80")) {
            try Mapping.parse(host: "8080", target: "80")
        }
        #expect(throws: MappingError.invalid("target '10.0.0.2:80 ' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80")) {
            try Mapping.parse(host: "8080", target: "10.0.0.2:80 ")
        }
        #expect(try Proto.parse("UDP") == .udp)
        #expect(throws: MappingError.invalid("unknown protocol ' tcp': use tcp, udp or sctp")) { try Proto.parse(" tcp") }
        #expect(throws: MappingError.invalid("unknown protocol 'tcp\\x1b': use tcp, udp or sctp")) { try Proto.parse("tcp\u{1b}") }
    }

    @Test("state documents and masquerade subnets are as strict", arguments: [
        (#"{"mappings": [{"host": "8080 ", "target": "10.0.0.2:80"}]}"#,
         "entry 1: host '8080 ' contains spaces or control characters: write [ADDR:]PORT alone, e.g. 8080 or 10.0.0.2:80"),
        (#"{"mappings": [{"host": "08080", "target": "10.0.0.2:80"}]}"#, "entry 1: host: '08080' has a leading zero: write 8080"),
        (#"{"mappings": [{"host": "8080/tcp", "target": "10.0.0.2:80"}]}"#,
         "entry 1: host '8080/tcp': give the protocol with --proto (\"proto\" in a file), e.g. 8080 --proto tcp"),
        (#"{"mappings": [], "masquerade": [{"subnet": "10.88.0.0/024"}]}"#,
         "masquerade entry 1: subnet '10.88.0.0/024': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64"),
        (#"{"mappings": [], "masquerade": [{"subnet": "10.88.0.0/+24"}]}"#,
         "masquerade entry 1: subnet '10.88.0.0/+24': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64"),
        (#"{"mappings": [], "masquerade": [{"subnet": " 10.88.0.0/24"}]}"#,
         "masquerade entry 1: subnet ' 10.88.0.0/24': expected ADDRESS/PREFIX, e.g. 10.88.0.0/24 or fd88::/64"),
        (#"{"mappings": [], "masquerade": [{"subnet": "10.88.0.0/24", "out-not": "br0\u001b"}]}"#,
         "masquerade entry 1: interface name 'br0\\x1b': use 1-15 printable characters without '/', ':' or spaces (e.g. br0)"),
    ])
    func documents(text: String, message: String) {
        #expect(throws: MappingError.invalid(message)) { try StateDocument.parse(text) }
    }
}
