import NFTRelay
import Testing
import NetworkAddress
@testable import PublishedRelay

@Suite("The relay logs ranges of ports as one line")
struct PortRunTests {
    static func port(_ mapping: String, _ listen: UInt16, _ target: UInt16, proto: ListenerSpec.TransportProtocol = .tcp,
                     host: String = "0.0.0.0", targetHost: String = "10.0.0.2") -> RelayPort {
        RelayPort(mapping: mapping, proto: proto, listen: SocketAddress(host, port: listen)!, target: SocketAddress(targetHost, port: target)!)
    }

    @Test("10,000 consecutive ports of one mapping are one run, in any order")
    func tenThousand() {
        let ports = (0..<10_000).map { Self.port("20000-29999/tcp -> 10.0.0.2:30000-39999", UInt16(20_000 + $0), UInt16(30_000 + $0)) }
        let runs = PortRun.runs(ports.reversed())
        #expect(runs.count == 1)
        #expect(runs.first?.description == "0.0.0.0:20000-29999/tcp -> 10.0.0.2:30000-39999")
        #expect(runs.first?.listenDescription == "0.0.0.0:20000-29999/tcp")
        #expect(runs.first?.count == 10_000)
    }

    @Test("a gap, another mapping, protocol, address or a target port out of step starts a new run")
    func breaks() {
        let a = "8000-8003/tcp -> 10.0.0.2:80-83"
        let runs = PortRun.runs([
            Self.port(a, 8000, 80), Self.port(a, 8001, 81), Self.port(a, 8003, 83),   // gap at 8002
            Self.port("b", 8004, 84),                                                  // another mapping
            Self.port(a, 8001, 81, proto: .udp),                                       // another protocol
            Self.port(a, 8001, 81, host: "::"),                                        // another address
            Self.port("c", 9000, 80), Self.port("c", 9001, 80),                        // same target port
        ])
        #expect(runs.map(\.description) == [
            "0.0.0.0:8000-8001/tcp -> 10.0.0.2:80-81",
            "0.0.0.0:8003/tcp -> 10.0.0.2:83",
            "[::]:8001/tcp -> 10.0.0.2:81",
            "0.0.0.0:8001/udp -> 10.0.0.2:81",
            "0.0.0.0:8004/tcp -> 10.0.0.2:84",
            "0.0.0.0:9000/tcp -> 10.0.0.2:80",
            "0.0.0.0:9001/tcp -> 10.0.0.2:80",
        ])
    }
}
