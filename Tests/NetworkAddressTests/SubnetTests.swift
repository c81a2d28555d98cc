import Testing
import NetworkAddress

@Suite("Subnet: membership (the relay's allow-list), ends, overlap")
struct SubnetTests {
    func subnet(_ address: String, _ prefix: Int) -> Subnet { Subnet(network: IPAddress(address)!, prefixLength: prefix) }

    @Test("contains, with IPv4 clients seen as ::ffff:a.b.c.d")
    func contains() {
        let lan = subnet("192.168.1.0", 24)
        #expect(lan.contains(IPAddress("192.168.1.200")!))
        #expect(!lan.contains(IPAddress("192.168.2.1")!))
        #expect(lan.contains(IPAddress("::ffff:192.168.1.7")!))
        #expect(!lan.contains(IPAddress("fd00::1")!))
        let odd = subnet("10.0.0.0", 9)
        #expect(odd.contains(IPAddress("10.127.255.255")!) && !odd.contains(IPAddress("10.128.0.0")!))
        let v6 = subnet("fd00:1::", 33)
        #expect(v6.contains(IPAddress("fd00:1:7fff::1")!) && !v6.contains(IPAddress("fd00:1:8000::1")!))
        let deep = subnet("fd00::100", 120)
        #expect(deep.contains(IPAddress("fd00::1ff")!) && !deep.contains(IPAddress("fd00::200")!))
        #expect(subnet("::1", 128).contains(IPAddress("::1")!) && !subnet("::1", 128).contains(IPAddress("::2")!))
        #expect(subnet("0.0.0.0", 0).contains(IPAddress("203.0.113.1")!))
        #expect(!subnet("::", 0).contains(IPAddress("203.0.113.1")!))
    }

    @Test("last, next and overlaps")
    func ends() {
        #expect(subnet("10.88.0.0", 24).last == [10, 88, 0, 255] && subnet("10.88.0.0", 24).next == [10, 88, 1, 0])
        #expect(subnet("255.255.255.0", 24).next == nil)
        #expect(subnet("10.0.0.0", 8).overlaps(subnet("10.1.0.0", 16)) && !subnet("10.0.0.0", 16).overlaps(subnet("10.1.0.0", 16)))
        #expect(!subnet("0.0.0.0", 1).overlaps(subnet("::", 1)))
    }
}
