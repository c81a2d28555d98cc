import Testing
@testable import NFTRelay

@Suite("SourceNetwork: which clients a listener's allow-list admits")
struct SourceNetworkTests {
    @Test("prefix matching for IPv4 and IPv6, IPv4-mapped clients count as IPv4, families never mix")
    func contains() throws {
        let lan = try #require(SourceNetwork("192.168.1.0/24"))
        #expect(lan.contains(IPAddress("192.168.1.200")!))
        #expect(!lan.contains(IPAddress("192.168.2.1")!))
        #expect(lan.contains(IPAddress("::ffff:192.168.1.7")!))
        #expect(!lan.contains(IPAddress("fd00::1")!))
        let odd = try #require(SourceNetwork("10.0.0.0/9"))
        #expect(odd.contains(IPAddress("10.127.255.255")!) && !odd.contains(IPAddress("10.128.0.0")!))
        let v6 = try #require(SourceNetwork("fd00:1::/33"))
        #expect(v6.contains(IPAddress("fd00:1:7fff::1")!) && !v6.contains(IPAddress("fd00:1:8000::1")!))
        #expect(SourceNetwork("::1/128")!.contains(IPAddress("::1")!))
        #expect(SourceNetwork.admits([], IPAddress("203.0.113.1")!))
        #expect(!SourceNetwork.admits([lan], IPAddress("203.0.113.1")!))
        #expect(SourceNetwork("10.0.0.0") == nil && SourceNetwork("10.0.0.0/33") == nil)
    }
}
