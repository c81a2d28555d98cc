#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import IptablesImport
@testable import PortForwarding

/// A file of IptablesSaves/ (real iptables-save output; its README says where each came from).
func savedRules(_ name: String) -> String {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()
    let path = parts.joined(separator: "/") + "/IptablesSaves/" + name
    guard let file = fopen(path, "r") else { return "cannot open \(path)" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n == 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

extension IptablesImport {
    var labels: [String] { mappings.map(\.description).sorted() }
    func notes(_ kind: ImportNote.Kind) -> [ImportNote] { notes.filter { $0.kind == kind } }
    /// The first note of `kind` covering `line`.
    func note(_ kind: ImportNote.Kind, line: Int) -> ImportNote? { notes(kind).first { $0.lines.contains(line) } }
    /// Whether some note of `kind` covering `line` says `text`.
    func says(_ kind: ImportNote.Kind, line: Int, _ text: String) -> Bool {
        notes(kind).contains { $0.lines.contains(line) && $0.text.contains(text) }
    }
}

@Suite("Import: iptables-save output to mappings")
struct IptablesImportTests {
    static let docker20 = [
        "127.0.0.1:8081/udp -> 172.17.0.2:81", "8080/tcp -> 172.17.0.2:80",
        "9000/tcp -> 172.17.0.2:9000", "9001/tcp -> 172.17.0.2:9001", "9002/tcp -> 172.17.0.2:9002",
    ].sorted()

    @Test("a real Docker 20.10 host with docker-proxy: its published ports, its subnet masquerade; hairpin rules not needed")
    func dockerWithProxy() throws {
        let result = try IptablesImport.read(savedRules("docker-20.10-userland-proxy.txt"))
        #expect(result.labels == Self.docker20)
        #expect(result.masquerade == [try MasqueradeRule.parse(subnet: "172.17.0.0/16", outNot: "docker0")])
        #expect(result.notes(.notImported).isEmpty)
        #expect(result.notes(.notNeeded).flatMap(\.lines).sorted() == [11, 12, 13, 14, 15])
        #expect(result.note(.caveat, line: 17)?.text.contains("'! -i docker0' dropped") == true)
        #expect(result.says(.caveat, line: 20, "other hosts sent to 127.0.0.1 (the CVE-2020-8558 hole)"))
        // The OUTPUT jump that leaves 127.0.0.0/8 to docker-proxy says what the proxy also served.
        #expect(result.note(.caveat, line: 9)?.text.contains("IPv6 clients need mappings of their own") == true)
        #expect(result.note(.plumbing, line: 8)?.text == "PREROUTING -> DOCKER (traffic to local addresses)")
    }

    @Test("a real Docker 20.10 host without userland proxy: the same mappings; its route_localnet masquerade is not needed")
    func dockerWithoutProxy() throws {
        let result = try IptablesImport.read(savedRules("docker-20.10-no-userland-proxy.txt"))
        #expect(result.labels == Self.docker20)
        #expect(result.masquerade.map(\.description) == ["172.17.0.0/16 out-not docker0"])
        #expect(result.notes(.notImported).isEmpty)
        #expect(result.note(.notNeeded, line: 10)?.text.contains("route_localnet") == true)
        #expect(result.notes(.notNeeded).flatMap(\.lines).sorted() == [10, 12, 13, 14, 15, 16])
        #expect(result.note(.caveat, line: 9)?.text.contains("nftfwd never DNATs loopback") == true)
        #expect(result.note(.caveat, line: 17) == nil)   // no interface condition to drop
    }

    @Test("a filter table in the same file is skipped, saying so")
    func filterTableSkipped() throws {
        let result = try IptablesImport.read(savedRules("docker-shaped-with-filter.txt"))
        #expect(result.notes(.skipped).map(\.description) == ["lines 2-9: table filter (2 rule(s)): nftfwd imports the nat table only"])
        #expect(result.labels == ["127.0.0.1:8081/udp -> 172.17.0.2:81", "8080/tcp -> 172.17.0.2:80"])
        #expect(result.report.contains("skipped:\n  lines 2-9: table filter"))
    }

    @Test("ranges, -d host, multiport, comments, a target without port, a shifted range; the rest refused with reasons")
    func tricky() throws {
        let result = try IptablesImport.read(savedRules("tricky-v4-counters.txt"))
        #expect(result.labels == [
            "127.0.0.1:6379/tcp -> 10.0.0.11:6379",
            "192.0.2.10:443/tcp -> 10.0.0.2:8443",          // -d 192.0.2.10/32
            "2222/tcp -> 10.0.0.4:2222",                    // --to-destination without port
            "3306/tcp -> 10.0.0.10:3306 allow 198.51.100.0/24",   // -s 198.51.100.0/24
            "3868/sctp -> 10.0.0.7:3868",
            "5353/udp -> 10.0.0.3:5353",                    // -m multiport --dports 53,5353,6000:6001
            "53/udp -> 10.0.0.3:53",
            "6000-6001/udp -> 10.0.0.3:6000-6001",
            "7000-7099/tcp -> 10.0.0.6:8000-8099",          // 10.0.0.6:8000-8099/7000
            "8080/tcp -> 10.0.0.8:80",                      // the first of two rules for 8080
            "8443/tcp -> 10.0.0.14:443",                    // -i eth1, dropped and said so
            "9000-9002/tcp -> 10.0.0.5:9000-9002 (game servers)",
        ].sorted())
        #expect(result.masquerade.map(\.description) == ["10.0.1.0/24"])
        let refused = Dictionary(uniqueKeysWithValues: result.notes(.notImported).map { ($0.lines[0], $0.text) })
        #expect(refused.keys.sorted() == [19, 22, 24, 25, 31, 32, 35, 37, 39])
        let expected: [Int: String] = [
            19: "a jump to WEBONLY under conditions nftfwd cannot carry (-s 10.0.0.0/8)",
            22: "SNAT to a fixed source address",
            24: "this rule has no source subnet, '-o eth0'",
            25: "chain ORPHAN is never entered",
            31: "sends every connection to the range's first free port (9100), not port by port",
            32: "7200-7202/tcp -> 10.0.0.6:80: host ports 7200-7202 (3) and target ports 80 (1) differ in length",
            35: "8080/tcp -> 10.0.0.9:80 claims the packets of 8080/tcp -> 10.0.0.8:80 from line 34, which iptables applies first",
            37: "REDIRECT sends the traffic to this host itself",
            39: "chain WEBONLY is entered only through the jump at line 19, which was not imported",
        ]
        for (line, text) in expected { #expect(refused[line]?.contains(text) == true, "line \(line): \(refused[line] ?? "none")") }
        // The comment holding '"' and '#' cannot be stored: the mappings come without it, and the report says why.
        #expect(result.note(.caveat, line: 28)?.text == "comment dropped: comment: '\"' at character 5 is not allowed (it would break the element's comment): leave it out")
        let eth1 = result.notes(.caveat).filter { $0.lines == [20] }.map(\.text)
        #expect(eth1.contains { $0.contains("'-i eth1' dropped: the rule caught only traffic arriving on eth1") })
        #expect(eth1.contains { $0.contains("reached from PREROUTING only") })
        #expect(eth1.contains { $0.contains("no '-m addrtype --dst-type LOCAL'") })
    }

    @Test("goto, RETURNs, --sport, --random, a -d subnet, DNAT without -p, duplicates across PREROUTING and OUTPUT")
    func more() throws {
        let result = try IptablesImport.read(savedRules("more-v4.txt"))
        #expect(result.labels == [
            "200/udp -> 10.0.0.3:53", "5000/tcp -> 10.0.0.4:5000 (from outside)", "5001/tcp -> 10.0.0.4:5001",
            "8080/tcp -> 10.0.0.2:80 (back\\slash and 'single')",
        ].sorted())
        #expect(result.masquerade.map(\.description) == ["10.0.5.0/24 out-not br0"])   // in LATE, which POSTROUTING jumps to
        #expect(result.notes(.notImported).map { $0.lines[0] } == [13, 15, 17, 18, 19, 20, 21, 23])
        #expect(result.note(.notImported, line: 17)?.text == "conditions an nftfwd mapping cannot carry: '--sport 1024:65535'")
        #expect(result.note(.notImported, line: 23)?.text == "never reached: the unconditional RETURN at line 22 ends chain EDGE before it")
        #expect(result.note(.imported, line: 10)?.lines == [10, 11])   // one mapping from both rules
        #expect(result.note(.caveat, line: 12)?.text.contains("reached from OUTPUT only") == true)
    }

    @Test("of two rules for one port, the one iptables evaluates first wins, not the one printed first: jumps and gotos are followed where they stand")
    func evaluationOrder() throws {
        // iptables-save prints PREROUTING's rules before DOCKER's, EDGE's and MASQ's, but the
        // jump at line 10 runs DOCKER's rules before the DNAT at line 11, the goto at line 12
        // runs EDGE's before the DNAT at line 13, and POSTROUTING's jump at line 15 runs MASQ's
        // before the subnet rule at line 16.
        let result = try IptablesImport.read(savedRules("docker-shaped-evaluation-order.txt"))
        #expect(result.labels == ["8080/tcp -> 172.17.0.2:80", "9090/tcp -> 172.17.0.3:90"])
        #expect(result.masquerade.map(\.description) == ["10.1.2.0/24 out-not br0"])
        #expect(result.notes(.notImported).map(\.lines) == [[11], [13], [16]])
        #expect(result.note(.notImported, line: 11)?.text
                == "8080/tcp -> 10.0.0.9:80 claims the packets of 8080/tcp -> 172.17.0.2:80 from line 18, which iptables applies first (the first matching rule wins); an nftfwd mapping cannot share them")
        #expect(result.note(.notImported, line: 13)?.text.contains("of 9090/tcp -> 172.17.0.3:90 from line 19, which iptables applies first") == true)
        #expect(result.note(.notImported, line: 16)?.text.contains("overlaps") == true)
    }

    @Test("a hand-made save: a DNAT after a jump loses to the chain jumped to, though its line comes first")
    func evaluationOrderInline() throws {
        let save = """
            *nat
            :PREROUTING ACCEPT [0:0]
            :DOCKER - [0:0]
            -A PREROUTING -j DOCKER
            -A PREROUTING -p udp -m udp --dport 5353 -j DNAT --to-destination 10.0.0.9:53
            -A DOCKER -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53
            COMMIT

            """
        let result = try IptablesImport.read(save)
        #expect(result.labels == ["5353/udp -> 172.17.0.2:53"])
        #expect(result.note(.notImported, line: 5)?.text.contains("from line 6, which iptables applies first") == true)
    }

    @Test("ip6tables-save gives IPv6 mappings; ::1 is loopback-bound without the IPv4-only CVE note")
    func ipv6() throws {
        let result = try IptablesImport.read(savedRules("docker-shaped-v6.txt"))
        #expect(result.labels == [
            "2222/tcp -> [fd00:dead:beef::5]:2222", "8080/tcp -> [fd00:dead:beef::2]:80",
            "[2001:db8::10]:9000-9002/tcp -> [fd00:dead:beef::4]:9000-9002", "[::1]:5353/udp -> [fd00:dead:beef::3]:53",
        ].sorted())
        #expect(result.mappings.allSatisfy { $0.hostFamily == .ipv6 && $0.targetFamily == .ipv6 })
        #expect(result.masquerade.map(\.description) == ["fd00:dead:beef::/64 out-not docker0"])
        #expect(!result.notes(.caveat).contains { $0.text.contains("CVE") })
        #expect(result.notes(.notNeeded).map(\.lines) == [[11]])
    }

    @Test("iptables-save and ip6tables-save one after the other: both families, 8080 in each")
    func bothFamilies() throws {
        let v4 = savedRules("docker-20.10-userland-proxy.txt"), v6 = savedRules("docker-shaped-v6.txt")
        let result = try IptablesImport.read(v4 + v6)
        #expect(result.mappings.filter { $0.host.ports == PortRange(8080) }.map(\.hostFamily) == [.ipv4, .ipv6])
        #expect(result.mappings.count == 9)
        #expect(result.masquerade.count == 2)
    }

    @Test("every chain and rule line of every saved file is accounted for in the report", arguments: [
        "docker-20.10-userland-proxy.txt", "docker-20.10-no-userland-proxy.txt", "docker-shaped-with-filter.txt",
        "docker-shaped-v6.txt", "tricky-v4-counters.txt", "more-v4.txt", "docker-shaped-evaluation-order.txt",
    ])
    func nothingSilentlyDropped(file: String) throws {
        let text = savedRules(file)
        let result = try IptablesImport.read(text)
        let covered = Set(result.notes.flatMap(\.lines))
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.hasPrefix(":") || line.hasPrefix("-A") || line.hasPrefix("[") {
            #expect(covered.contains(index + 1), "\(file) line \(index + 1) is in no note: \(line)")
        }
    }

    @Test("the printed document reads back as the same state")
    func documentRoundTrip() throws {
        let result = try IptablesImport.read(savedRules("tricky-v4-counters.txt"))
        let parsed = try StateDocument.parse(result.documentText)
        #expect(parsed == result.document)
        #expect(parsed.mappings.count == 12)
    }

    @Test("a file with no port publishing imports nothing (the CLI then exits 1)")
    func nothingToImport() throws {
        let result = try IptablesImport.read("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n")
        #expect(result.isEmpty)
        #expect(result.notes.map(\.kind) == [.skipped])
    }

    @Test("input that is not iptables-save output is refused, naming the line", arguments: [
        ("", "no table in the input: expected iptables-save output ('*nat', ':CHAIN POLICY [0:0]', '-A CHAIN ...', 'COMMIT')"),
        ("{\"mappings\": []}", "line 1: '{\"mappings\": []}' comes before any table: expected iptables-save output ('*nat', ':CHAIN POLICY [0:0]', '-A CHAIN ...', 'COMMIT')"),
        ("-P PREROUTING ACCEPT\n-N DOCKER\n", "line 1: '-P PREROUTING ACCEPT' comes before any table: this looks like 'iptables -S' output; give iptables-save's, e.g. iptables-save -t nat | nftfwd import iptables -"),
        ("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j RETURN\n", "table nat (line 1) has no COMMIT: the input is cut short"),
        ("*nat\n:PREROUTING ACCEPT [0:0]\n-A DOCKER -j RETURN\nCOMMIT\n", "line 3: chain DOCKER was not declared in table nat (iptables-save writes ':DOCKER - [0:0]' first)"),
        ("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m comment --comment \"open -j RETURN\nCOMMIT\n", "line 3: unterminated quote in 'PREROUTING -m comment --comment \"open -j RETURN'"),
        ("*nat\n:PREROUTING ACCEPT [0:0]\n-I PREROUTING -j RETURN\nCOMMIT\n", "line 3: '-I PREROUTING -j RETURN': expected ':CHAIN POLICY', '-A CHAIN ...' or COMMIT, as iptables-save writes"),
        ("*nat\n*filter\nCOMMIT\n", "line 2: table filter starts before table nat (line 1) ends with COMMIT"),
    ])
    func invalid(text: String, message: String) {
        #expect(throws: MappingError.invalid(message)) { try IptablesImport.read(text) }
    }

    @Test("rules split into words as iptables-restore does: double quotes, backslash escapes")
    func words() throws {
        #expect(try IptablesSave.split(#"DOCKER -m comment --comment "say \"hi\" \\ now" -j RETURN"#)
                == ["DOCKER", "-m", "comment", "--comment", "say \"hi\" \\ now", "-j", "RETURN"])
        #expect(try IptablesSave.split("A  -p\ttcp ") == ["A", "-p", "tcp"])
        #expect(try IptablesSave.split(#"A --comment """#) == ["A", "--comment", ""])
    }

    @Test("--to-destination ports as the kernel's NAT picks them", arguments: [
        ("10.0.0.2", "8080", "8080"),                     // no port: the packet's own
        ("10.0.0.2:80", "8080", "80"),
        ("10.0.0.2:80", "8000-8002", "80"),               // all to one (Mapping refuses the mix)
        ("10.0.0.2:9000-9002", "9000-9002", "9000-9002"), // the same range: each port kept
        ("10.0.0.2:9000-9002", "9001", "9001"),           // a port inside the range is kept
        ("10.0.0.2:9000-9099/8000", "8000-8099", "9000-9099"),
        ("10.0.0.2:9000-9099/8000", "8010-8019", "9010-9019"),
        ("[fd00::2]:9000-9099/8000", "8005", "9005"),
        ("10.0.0.2:9000-9002", "8000-8002", "not port by port"),
        ("10.0.0.2:9000-9002", "80", "not port by port"),
        ("10.0.0.2:9000-9002/8000", "8001-8003", "wraps"),
        ("10.0.0.2-10.0.0.4:80", "80", "spreads connections over several targets"),
        (":80", "80", "names no address"),
    ])
    func targetPorts(to: String, host: String, expected: String) throws {
        let hostPorts = try PortRange.parse(Substring(host), what: "host")
        switch NatTarget.parse(to).flatMap({ $0.ports(for: hostPorts) }) {
        case .success(let ports): #expect(ports.description == expected)
        case .failure(let problem): #expect(problem.text.contains(expected), "\(problem.text)")
        }
    }

    @Test("the report merges notes of one kind and text, and lists line runs")
    func report() throws {
        #expect(ImportNote.lineList([7]) == "line 7")
        #expect(ImportNote.lineList([12, 7, 8, 9]) == "lines 7-9, 12")
        #expect(ImportNote.lineList(Array(stride(from: 1, through: 99, by: 2)), limit: 3) == "lines 1, 3, 5 and 47 more")
        let result = try IptablesImport.read(savedRules("docker-20.10-userland-proxy.txt"))
        #expect(result.report.hasPrefix("nftfwd import: 5 mapping(s) and 1 masquerade subnet(s)\nimported:\n  line 10: masquerade 172.17.0.0/16 out-not docker0\n"))
        #expect(result.report.contains("\n  lines 11-15: Docker's hairpin masquerade"))
        #expect(result.report.split(separator: "\n").allSatisfy { $0.count <= 100 })
    }
}
