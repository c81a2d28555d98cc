import Testing
import NetworkAddress

@Suite("IPAddress: strict and docker-proxy parsing, inline storage, order")
struct IPAddressTests {
    @Test("strict IPv4: four parts 0-255, no leading zero, sign, space or extra part")
    func strictIPv4() {
        for good in ["0.0.0.0", "10.0.0.2", "255.255.255.255", "192.0.2.10"] {
            #expect(IPAddress.parse(good)?.description == good, "\(good)")
        }
        for bad in ["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "1.2.3.-4", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ",
                    "1..3.4", "1.2.3.", "0x1.2.3.4", "1.2.3.4/24", "1.2.3.00"] {
            #expect(IPAddress.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("strict IPv6: RFC 4291 text, no zone, no brackets; printed canonically")
    func strictIPv6() {
        #expect(IPAddress.parse("fd00:0:0:0:0:0:0:2")?.description == "fd00::2")
        #expect(IPAddress.parse("::")?.isUnspecified == true)
        #expect(IPAddress.parse("::ffff:192.0.2.1")?.family == .ipv6)
        for bad in ["[::1]", "fe80::1%eth0", ":::", "fd00::2::3", "12345::", "g::1"] {
            #expect(IPAddress.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("docker-proxy's lenient form takes brackets; the strict one does not")
    func dockerProxyForm() {
        #expect(IPAddress(dockerProxy: "[::1]") == IPAddress("::1"))
        #expect(IPAddress(dockerProxy: "127.0.0.1") == IPAddress("127.0.0.1"))
        #expect(IPAddress(dockerProxy: "[127.0.0.1") == nil && IPAddress(dockerProxy: "localhost") == nil)
        #expect(IPAddress("[::1]") == nil)
    }

    @Test("bytes round-trip through the inline words, in network order")
    func bytes() {
        let v4 = IPAddress(bytes: [10, 0, 0, 2] as [UInt8])
        #expect(v4 == IPAddress("10.0.0.2") && v4.bytes == [10, 0, 0, 2])
        #expect(v4.storage == .v4(0x0a00_0002))
        let v6 = IPAddress("2001:db8::1:2")!
        #expect(IPAddress(bytes: v6.bytes) == v6 && v6.bytes.count == 16 && v6.bytes[0] == 0x20 && v6.bytes[15] == 2)
        #expect(IPAddress.unspecified(.ipv6).bytes == [UInt8](repeating: 0, count: 16))
    }

    @Test("families, predicates and order (IPv4 first, then by bytes)")
    func predicates() {
        #expect(IPAddress("127.8.0.1")!.isLoopback && IPAddress("::1")!.isLoopback && !IPAddress("::2")!.isLoopback)
        #expect(IPAddress("224.0.0.1")!.unusableReason == "a multicast address")
        #expect(IPAddress("255.255.255.255")!.unusableReason == "the broadcast address")
        #expect(IPAddress("ff02::1")!.unusableReason == "a multicast address")
        #expect(IPAddress("::ffff:1.2.3.4")!.unusableReason?.hasPrefix("an IPv4-mapped") == true)
        #expect(IPAddress("::1.2.3.4")!.unusableReason?.hasPrefix("an IPv4-compatible") == true)
        #expect(IPAddress("::")!.unusableReason == nil && IPAddress("fd00::1")!.unusableReason == nil)
        #expect(IPAddress("::ffff:1.2.3.4")!.unmappedIPv4 == IPAddress("1.2.3.4"))
        #expect(IPAddress.loopbackIPv4 == IPAddress("127.0.0.1") && IPAddress.loopbackIPv6 == IPAddress("::1"))
        let sorted = ["fd00::1", "10.0.0.10", "::2", "10.0.0.9", "9.255.255.255"].map { IPAddress($0)! }.sorted()
        #expect(sorted.map(\.description) == ["9.255.255.255", "10.0.0.9", "10.0.0.10", "::2", "fd00::1"])
        #expect(IPAddress("fd00::1")!.bracketed == "[fd00::1]" && IPAddress("10.0.0.1")!.bracketed == "10.0.0.1")
    }
}
