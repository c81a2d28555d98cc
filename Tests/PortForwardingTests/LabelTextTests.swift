import Testing
import NetworkAddress
@testable import PortForwarding

/// `LabelText` writes labels and element comments as bytes; they must read exactly as the
/// String forms they replaced, which the kernel's comments and every message name.
@Suite("label text: the byte writer gives the String forms' text")
struct LabelTextTests {
    /// The label as it was written before `LabelText`.
    static func stringLabel(_ m: Mapping) -> String {
        let base = m.hostText + "/" + m.proto.rawValue + " -> " + m.target.description
        return m.proxyProtocol.map { base + ProxyProtocol.labelWord + $0.rawValue } ?? base
    }

    @Test("labels and element comments of v4, v6, cross-family, ranges, PROXY protocol and comments")
    func sameText() throws {
        let cases: [(host: String, target: String, proto: String, comment: String)] = [
            ("8080", "10.0.0.2:80", "tcp", ""),
            ("1", "100.0.0.1:65535", "udp", ""),
            ("192.0.2.10:8000-8099", "254.255.255.255:9000-9099", "tcp", "web, and more"),
            ("[::]:8080", "10.0.0.2:80", "tcp", ""),
            ("0.0.0.0:53", "[2001:db8::2]:53", "udp", "dns"),
            ("[2001:db8::1]:443", "[fd00::2]:8443", "tcp", "ünïcode, and a longer comment"),
            ("127.0.0.1:10-20", "198.18.2.2:110-120", "tcp", ""),
            ("[::1]:9", "[::1]:99", "udp", ""),
        ]
        for c in cases {
            let m = try Mapping.parse(host: c.host, target: c.target, proto: c.proto, comment: c.comment)
            #expect(m.label == Self.stringLabel(m), "\(c)")
            let comment = m.comment.isEmpty ? Self.stringLabel(m) : "\(Self.stringLabel(m)) # \(m.comment)"
            #expect(TableLayout.elementComment(for: m) == comment, "\(c)")
            for version in [ProxyProtocol.v1, .v2] where m.proto == .tcp {
                var proxied = m
                proxied.proxyProtocol = version
                #expect(proxied.label == Self.stringLabel(proxied), "\(c) \(version)")
            }
        }
    }
}
