import Testing
@testable import HostChecks
import PortForwarding

/// The decisions of the checks, from given facts (no kernel needed).
@Suite("Host checks: decisions")
struct FindingTests {
    func mapping(_ host: String, _ target: String, _ proto: String = "tcp") throws -> Mapping {
        try Mapping.parse(host: host, target: target, proto: proto)
    }
}
