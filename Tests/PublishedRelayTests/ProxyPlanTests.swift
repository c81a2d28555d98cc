import NFTRelay
import PortForwarding
import Testing
import NetworkAddress
@testable import PublishedRelay

@Suite("The relay's plan for PROXY-protocol mappings")
struct ProxyPlanTests {
    @Test("served on the mapping's own address (one bound to a non-loopback address too), with the header's version")
    func plan() throws {
        let bound = try Mapping.parse(host: "192.0.2.10:2525", target: "10.0.0.5:25").proxying(.v2)
        let wildcard = try Mapping.parse(host: "8080", target: "10.0.0.2:80").proxying(.v1)
        let plain = try Mapping.parse(host: "192.0.2.10:8443", target: "10.0.0.2:443")
        #expect(RelayPlan.ports(for: plain).isEmpty)   // the kernel's alone, as before
        let b = try #require(RelayPlan.ports(for: bound).first)
        #expect(b.listen == SocketAddress("192.0.2.10", port: 2525))
        #expect(b.proxyProtocol == .v2)
        let w = try #require(RelayPlan.ports(for: wildcard).first)
        #expect(w.listen == SocketAddress("0.0.0.0", port: 8080))
        #expect(w.proxyProtocol == .v1)
        #expect(RelayPlan.ports(for: try Mapping.parse(host: "8080", target: "10.0.0.2:80")).first?.proxyProtocol == nil)
    }
}
