import Testing
@testable import HostChecks
import PortForwarding

/// Other tables' names come from the kernel, where anyone with CAP_NET_ADMIN (or a container
/// runtime) may have chosen them: doctor and the warnings quote them escaped.
@Suite("Host checks: foreign names are escaped")
struct UntrustedFindingTests {
    @Test("a forward chain named with controls and a bidi override is quoted escaped, on one line")
    func forwardChainNames() throws {
        let chain = ForwardDropChain(family: .inet, table: "fw\u{1b}[2J", chain: "fwd\nOK   forged\u{202e}", acceptsDNAT: false)
        let findings = ForwardFilter.findings(chains: [chain], mappings: [try Mapping.parse(host: "8080", target: "10.0.0.2:80")],
                                              isLocal: { _ in false })
        let text = Doctor.text(findings)
        #expect(text.filter { $0 == "\n" }.count == 1)
        #expect(!text.dropLast().unicodeScalars.contains(where: Untrusted.isUnsafe))
        #expect(text.contains("table inet fw\\x1b[2J chain fwd\\nOK   forged\\u{202e} (hook forward"))
        #expect(text.contains("'nft insert rule inet fw\\x1b[2J fwd\\nOK   forged\\u{202e} ct status dnat accept'"))
        #expect(!findings[0].warningLine.unicodeScalars.contains(where: Untrusted.isUnsafe))
    }

    @Test("a finding whose message was not escaped still prints as one line")
    func safetyNet() {
        let text = Doctor.text([Finding(.table, .fail, "bad\nFAIL forged", fix: "x\u{1b}")])
        #expect(text.filter { $0 == "\n" }.count == 1)
        #expect(text.contains("bad\\nFAIL forged; fix: x\\x1b"))
    }
}
