import Testing
@testable import HostChecks

/// sysctl's dotted names to /proc/sys paths: a dot is a level, a '/' stands for a dot inside
/// an interface name (VLAN interfaces are named eth0.100).
@Suite("Host checks: sysctl names")
struct SysctlPathTests {
    @Test("dots become levels, '/' becomes the dot of an interface name, other bytes stay")
    func paths() {
        #expect(Sysctl.path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward")
        #expect(Sysctl.path("net.ipv4.conf.eth0/100.route_localnet") == "/proc/sys/net/ipv4/conf/eth0.100/route_localnet")
        #expect(Sysctl.path("net.ipv6.conf.wé-1.forwarding") == "/proc/sys/net/ipv6/conf/wé-1/forwarding")
        #expect(Sysctl.path(Sysctl.component("br0.7")) == "/proc/sys/br0.7")
    }
}
