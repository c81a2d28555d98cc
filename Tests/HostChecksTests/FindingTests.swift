import Testing
@testable import HostChecks
import NFTables
import PortForwarding
import NetworkAddress

/// The decisions of the checks, from given facts (no kernel needed). The kernel tests
/// (DoctorTests) make each check fire and pass on a real namespace.
/// The decisions are pure: no address counts as this host's (the machine running the tests
/// may well have the test targets' addresses).
private let notLocal: @Sendable (IPAddress) -> Bool = { _ in false }

@Suite("Host checks: decisions")
struct FindingTests {
    func mapping(_ host: String, _ target: String, _ proto: String = "tcp") throws -> Mapping {
        try Mapping.parse(host: host, target: target, proto: proto)
    }

    @Test("forwarding: only the kernel-forwarded mappings of a family need it; several are summed up")
    func forwarding() throws {
        let mappings = [try mapping("8080", "10.0.0.2:80"), try mapping("53", "10.0.0.3:53", "udp"),
                        try mapping("8000-8001", "10.0.0.2:9000-9001"), try mapping("9000", "10.0.0.4:80"),
                        try mapping("127.0.0.1:6379", "10.0.0.2:6379"), try mapping("[::]:8080", "10.0.0.2:80")]
        let off = Forwarding.findings(for: mappings, enabled: { _ in false }, flagHint: "X", isLocal: notLocal)
        #expect(off.map(\.status) == [.fail, .ok])
        #expect(off[0].message == "net.ipv4.ip_forward is 0: traffic from other hosts to 8080/tcp, 53/udp, 8000-8001/tcp and 1 more will not reach their targets")
        #expect(off[0].fix == "enable it with 'sysctl -w net.ipv4.ip_forward=1' or X")
        #expect(off[1].message == "net.ipv6.conf.all.forwarding is 0; no ipv6 mapping goes through the kernel")
        #expect(Forwarding.families(needed: mappings, isLocal: notLocal) == [.ipv4])
        // Relay-only mappings (loopback, IPv6 to IPv4) never need forwarding.
        #expect(Forwarding.families(needed: Array(mappings.suffix(2)), isLocal: notLocal) == [])
        let unknown = Forwarding.findings(for: [try mapping("[::]:80", "[fd00::2]:80")], enabled: { _ in nil }, flagHint: "X", isLocal: notLocal)
        #expect(unknown.map(\.status) == [.ok, .fail])
        #expect(unknown[1].message.hasPrefix("net.ipv6.conf.all.forwarding cannot be read (is ipv6 disabled?)"))
    }

    @Test("the relay: a holder of its status socket that does not answer is a warning, not 'not running'")
    func relayNotAnswering() throws {
        let loopback = [try mapping("127.0.0.1:6379", "10.0.0.2:6379")]
        let silent = RelayCheck.findings(mappings: loopback, status: nil, table: "nftfwd", unanswered: "timed out after 1 s")
        #expect(silent.map(\.status) == [.warn])
        #expect(silent[0].message == "a relay holds the status socket of table nftfwd but does not answer: timed out after 1 s")
        #expect(RelayCheck.findings(mappings: loopback, status: nil, table: "nftfwd").map(\.status) == [.fail])
    }

    @Test("a forward chain accepts DNAT'd connections only with exactly 'ct status dnat accept' or its iptables form")
    func acceptsDNAT() {
        // As NFTables reads them back (the kernel's attributes; ct status host order: amd64).
        let status = Expression.ConntrackKey.status.kernelValue, neq = Expression.CompareOp.neq.kernelValue
        let load = ExpressionRecord.conntrack(key: status, into: .r1)
        let mask = ExpressionRecord.bitwise(from: .r1, into: .r1, mask: [0x20, 0, 0, 0], xor: [0, 0, 0, 0])
        let nonzero = ExpressionRecord.compare(.r1, op: neq, [0, 0, 0, 0])
        let accept = ExpressionRecord.verdict(.accept)
        let nft = [load, mask, nonzero, accept]
        #expect(ForwardFilter.acceptsDNAT(nft))
        #expect(ForwardFilter.acceptsDNAT([load, mask, nonzero, .counter, accept]))
        // The same rule as the fake lists it back: built, then read like a kernel reply.
        #expect(ForwardFilter.acceptsDNAT([Expression.conntrack(.status, into: .r1), .bitwise(.r1, mask: [0x20, 0, 0, 0], xor: [0, 0, 0, 0]),
                                           .compare(.r1, .neq, [0, 0, 0, 0]), .counter, .verdict(.accept)].map(\.record)))
        #expect(!ForwardFilter.acceptsDNAT([load, mask, .compare(.r1, op: neq, [1, 0, 0, 0]), accept]))
        #expect(!ForwardFilter.acceptsDNAT([load, mask, .compare(.r1, op: Expression.CompareOp.eq.kernelValue, [0, 0, 0, 0]), accept]))
        #expect(!ForwardFilter.acceptsDNAT([load, mask, nonzero, .verdict(.drop)]))
        // ct status snat (0x10) is not the fix, nor a mask applied to another register, nor ct state.
        #expect(!ForwardFilter.acceptsDNAT([load, .bitwise(from: .r1, into: .r1, mask: [0x10, 0, 0, 0], xor: [0, 0, 0, 0]), nonzero, accept]))
        #expect(!ForwardFilter.acceptsDNAT([load, .bitwise(from: .r2, into: .r2, mask: [0x20, 0, 0, 0], xor: [0, 0, 0, 0]), nonzero, accept]))
        #expect(!ForwardFilter.acceptsDNAT([.conntrack(key: Expression.ConntrackKey.state.kernelValue, into: .r1), mask, nonzero, accept]))
        // A short mask (a hostile reply) is no match, and no crash.
        #expect(!ForwardFilter.acceptsDNAT([load, .bitwise(from: .r1, into: .r1, mask: [0x20], xor: [0]), nonzero, accept]))
        // Another match in front (oifname ...) accepts only part of the traffic.
        #expect(!ForwardFilter.acceptsDNAT([.meta(key: Expression.MetaKey.oifname.kernelValue, into: .r1),
                                            .compare(.r1, op: Expression.CompareOp.eq.kernelValue, Array("eth0".utf8))] + nft))
        #expect(!ForwardFilter.acceptsDNAT([.other("quota"), accept]))

        // iptables-nft: xt_conntrack_mtinfo3 with match_flags STATE (1) and state_mask DNAT (0x80).
        func conntrack(flags: UInt16, invert: UInt16, states: UInt16, revision: UInt32 = 3, size: Int = 164) -> ExpressionRecord {
            var info = [UInt8](repeating: 0, count: size)
            for (offset, value) in [(146, flags), (148, invert), (150, states)] where offset + 1 < size {
                info[offset] = UInt8(value & 0xff); info[offset + 1] = UInt8(value >> 8)
            }
            return .match(name: "conntrack", revision: revision, info: info)
        }
        #expect(ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 0, states: 0x80), .counter, accept]))
        #expect(ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 0, states: 0x80, revision: 2), accept]))
        #expect(!ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 1, states: 0x80), accept]))      // ! --ctstate DNAT
        #expect(!ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 0, states: 0x06), accept]))      // ESTABLISHED,RELATED
        #expect(!ForwardFilter.acceptsDNAT([conntrack(flags: 3, invert: 0, states: 0x80), accept]))      // and a protocol
        #expect(!ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 0, states: 0x80, revision: 1), accept]))
        #expect(!ForwardFilter.acceptsDNAT([conntrack(flags: 1, invert: 0, states: 0x80, size: 151), accept]))   // too short
    }

    @Test("forward-drop: warns per dropping chain of an affected family, with the fix for its kind of table")
    func forwardDrop() throws {
        let v4 = [try mapping("8080", "10.0.0.2:80")]
        let fw = ForwardDropChain(family: .inet, table: "fw", chain: "forward", acceptsDNAT: false)
        let iptables = ForwardDropChain(family: .ipv4, table: "filter", chain: "FORWARD", acceptsDNAT: false)
        let v6only = ForwardDropChain(family: .ipv6, table: "fw6", chain: "fwd", acceptsDNAT: false)
        let found = ForwardFilter.findings(chains: [iptables, fw, v6only], mappings: v4, isLocal: notLocal)
        #expect(found.map(\.status) == [.warn, .warn])
        #expect(found[0].fix == "accept DNAT'd connections there with 'iptables -I FORWARD -m conntrack --ctstate DNAT -j ACCEPT'")
        #expect(found[1].fix == "accept DNAT'd connections there with 'nft insert rule inet fw forward ct status dnat accept'")
        #expect(ForwardFilter.findings(chains: [v6only], mappings: v4, isLocal: notLocal).map(\.status) == [.ok])
        #expect(ForwardFilter.findings(chains: [fw], mappings: [try mapping("127.0.0.1:80", "10.0.0.2:80")], isLocal: notLocal).map(\.status) == [.ok])
    }

    @Test("nat-support fails with the kernel's first objection")
    func natSupport() {
        let objection = NetlinkError.Rejection(operation: "add chain prerouting", errno: Errno(95), detail: nil)
        let finding = NATSupport.finding(objections: [objection, objection])
        #expect(finding.status == .fail)
        #expect(finding.message.hasPrefix("the kernel refuses nftfwd's table: 'add chain prerouting': "))
        #expect(finding.message.hasSuffix(" (and 1 more)"))
        #expect(NATSupport.finding(objections: []).status == .ok)
    }

    @Test("route_localnet: one warning per interface, dots in names written as sysctl writes them")
    func routeLocalnet() {
        let found = RouteLocalnet.findings(enabledOn: ["all", "eth0.100"])
        #expect(found.map(\.status) == [.warn, .warn])
        #expect(found[0].message.contains("arriving on all interfaces"))
        #expect(found[1].fix == "turn it off with 'sysctl -w net.ipv4.conf.eth0/100.route_localnet=0' (nftfwd serves loopback through its relay and never needs it)")
        #expect(RouteLocalnet.findings(enabledOn: []).map(\.status) == [.ok])
    }

    @Test("doctor's text and JSON: one line per finding; the worst status decides")
    func rendering() {
        let findings = [Finding(.table, .ok, "fine"), Finding(.relay, .warn, "not running", fix: "start it")]
        #expect(Doctor.text(findings) == "OK   table            fine\nWARN relay            not running; fix: start it\n")
        #expect(Doctor.worst(findings) == .warn)
        #expect(Doctor.worst(findings + [Finding(.natSupport, .fail, "no")]) == .fail)
        #expect(Doctor.worst([]) == .ok)
        #expect(Doctor.json(findings) == .object([
            ("ok", .bool(false)), ("status", .string("warn")),
            ("checks", .array([
                .object([("check", .string("table")), ("status", .string("ok")), ("message", .string("fine")), ("fix", .null)]),
                .object([("check", .string("relay")), ("status", .string("warn")), ("message", .string("not running")), ("fix", .string("start it"))]),
            ])),
        ]))
        #expect(findings[1].warningLine == "nftfwd: warning: not running; start it")
    }
}
