import Testing
import NetworkAddress
@testable import NFTRelay

// Membership itself (prefixes, ::ffff:a.b.c.d clients) is NetworkAddressTests' SubnetTests.
@Suite("Allowed sources: which clients a listener's allow-list admits")
struct AllowedSourcesTests {
    @Test("an empty list admits anyone; otherwise a client must be in one of the networks")
    func admits() {
        let lan = Subnet(network: IPAddress("192.168.1.0")!, prefixLength: 24)
        let v6 = Subnet(network: IPAddress("fd00:1::")!, prefixLength: 33)
        #expect(Subnet.admits([], IPAddress("203.0.113.1")!))
        #expect(!Subnet.admits([lan], IPAddress("203.0.113.1")!))
        #expect(Subnet.admits([v6, lan], IPAddress("::ffff:192.168.1.9")!))
        #expect(Subnet.admits([v6, lan], IPAddress("fd00:1::9")!) && !Subnet.admits([v6, lan], IPAddress("fd00:2::9")!))
    }
}
