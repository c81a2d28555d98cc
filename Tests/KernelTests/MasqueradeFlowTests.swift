import Testing
import TestSupport
import NFTables
import PortForwarding
import NetworkAddress
#if canImport(Glibc)
import Glibc
#endif

/// Conntrack cleanup after a masquerade rule changes, on the container topology: c1 streams
/// UDP from one source port to the lan peer, which has no route back to 10.88.0.0/24, so only
/// a masqueraded datagram is answered. Masquerade is decided at a flow's first packet; without
/// the cleanup, a stream that began before `masquerade add` stays black-holed while it keeps
/// sending, and one that began before `masquerade rm` stays masqueraded.
@Suite("Kernel: stale UDP conntrack after a masquerade rule changes", .kernelTest)
struct MasqueradeFlowTests {
    static let apply = """
        {"mappings": [{"proto": "tcp", "host": "8080", "target": "10.88.0.2:80"}],
         "masquerade": [{"subnet": "10.88.0.0/24", "out-not": "br0"}]}
        """

    @Test("a container's UDP stream follows masquerade add, rm and apply at once, losing at most one datagram each time")
    func streamFollowsMasquerade() throws {
        let lab = try BridgeLab("mqct")
        defer { lab.destroy() }
        // A published port first, as on a host where nftfwd already runs: its table is what
        // makes the kernel track connections in this namespace at all.
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        let stream = try UDPStream(lab.net, lab.c1, to: "192.168.90.2", BridgeLab.lanPort, from: 40000, count: 40, intervalMs: 200)
        defer { stream.remove() }
        try #require(TestNetwork.waitUntil(timeout: 5) { stream.sent >= 3 && ((try? unmasqueraded(in: lab)) ?? false) })
        #expect(stream.answers.isEmpty, "answered without masquerade: \(stream.answers)")

        // add: answers within a second; datagrams sent while the command ran may take the old
        // entry (the cleanup deletes it before the command returns), of those sent after it
        // returned at most one is lost. (Under a loaded runner the command can take longer
        // than the stream's 200 ms interval.)
        let beforeAdd = stream.sent
        let add = try lab.nftfwdOK("-v", "masquerade", "add", "10.88.0.0/24", "--out-not", "br0")
        let added = Command.monotonicSeconds()
        let afterAdd = stream.sent
        #expect(TestNetwork.waitUntil(timeout: 1) { !stream.answers.isEmpty }, "no answer within 1 s of masquerade add")
        let firstAnswerMs = Int((Command.monotonicSeconds() - added) * 1000)
        #expect(add.stderr.contains("nftfwd: deleted 1 conntrack entry of UDP flows from 10.88.0.0/24 in "), "\(add.stderr)")
        try #require(TestNetwork.waitUntil(timeout: 5) { stream.sent >= beforeAdd + 8 })

        // rm: no answer to a datagram sent after it returned (the first may have used the old entry).
        let beforeRm = stream.sent
        let rm = try lab.nftfwdOK("-v", "masquerade", "rm", "10.88.0.0/24")
        let afterRm = stream.sent
        #expect(rm.stderr.contains("nftfwd: deleted 1 conntrack entry of UDP flows from 10.88.0.0/24 in "), "\(rm.stderr)")
        try #require(TestNetwork.waitUntil(timeout: 5) { stream.sent >= afterRm + 6 })

        // apply bringing the rule back: masqueraded again at once.
        let beforeApply = stream.sent
        try #require(stream.count - beforeApply >= 5, "the stream ended before the apply: \(beforeApply) of \(stream.count) sent")
        let apply = try lab.net.exec(lab.host, [nftfwdBinary, "-v", "apply", "-"], stdin: Self.apply)
        let afterApply = stream.sent
        #expect(apply.stderr.contains("nftfwd: deleted 1 conntrack entry of UDP flows from 10.88.0.0/24 in "), "\(apply.stderr)")
        try #require(TestNetwork.waitUntil(timeout: 15) { stream.isDone })

        let answered = Set(stream.answers.map(\.seq))
        let lostWhileAdding = (beforeAdd..<afterAdd).filter { !answered.contains($0) }
        let lostAfterAdd = (afterAdd..<beforeRm).filter { !answered.contains($0) }
        let answeredAfterRm = answered.filter { $0 > afterRm && $0 < beforeApply }
        let lostWhileApplying = (beforeApply..<afterApply).filter { !answered.contains($0) }
        let lostAfterApply = (afterApply..<stream.count).filter { !answered.contains($0) }
        print("masquerade flow test: first answer \(firstAnswerMs) ms after add; lost while adding \(lostWhileAdding), after add \(lostAfterAdd), while applying \(lostWhileApplying), after apply \(lostAfterApply); answered after rm \(answeredAfterRm.sorted())")
        #expect(answered.allSatisfy { $0 >= beforeAdd }, "answered before masquerade add: \(stream.answers)")
        #expect(lostAfterAdd.count <= 1, "\(stream.answers)")
        #expect(answeredAfterRm.isEmpty, "still masqueraded after rm: \(stream.answers)")
        #expect(lostAfterApply.count <= 1, "\(stream.answers)")
        #expect(stream.answers.allSatisfy { $0.text.hasPrefix("udp 7000 from 192.168.90.1 at lan") }, "\(stream.answers)")
        #expect(stream.strays.isEmpty, "\(stream.strays)")

        // flush takes the rule away with the table: the masqueraded flow loses its entry too.
        let flush = try lab.nftfwdOK("-v", "flush")
        // (flush also looks for flows its rules labelled, without reading the table: there are none.)
        #expect(flush.stderr.contains("nftfwd: deleted 1 conntrack entry of UDP flows the table translated and from 10.88.0.0/24 in "), "\(flush.stderr)")
    }

    /// The control: the same changes without the cleanup leave each stream on its old path,
    /// so the test above can fail.
    @Test("without the cleanup, a stream begun before masquerade add stays black-holed, and one begun before rm stays masqueraded")
    func withoutCleanupStreamsKeepTheirPath() throws {
        let lab = try BridgeLab("mqno")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "10.88.0.2:80")
        let early = try UDPStream(lab.net, lab.c1, to: "192.168.90.2", BridgeLab.lanPort, from: 40000, count: 30, intervalMs: 200)
        defer { early.remove() }
        try #require(TestNetwork.waitUntil(timeout: 5) { early.sent >= 3 && ((try? unmasqueraded(in: lab)) ?? false) })

        let rule = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        try inNamespace(lab.host) {
            let publisher = try Publisher()
            publisher.flowCleaner = nil
            #expect(try publisher.addMasquerade(rule) == .added)
        }
        // A stream begun now is masqueraded: the rule works.
        let late = try UDPStream(lab.net, lab.c1, to: "192.168.90.2", BridgeLab.lanPort, from: 40001, count: 20, intervalMs: 200)
        defer { late.remove() }
        try #require(TestNetwork.waitUntil(timeout: 5) { late.answers.count >= 3 }, "a new stream was not masqueraded: \(late.answers)")

        try inNamespace(lab.host) {
            let publisher = try Publisher()
            publisher.flowCleaner = nil
            try publisher.removeMasquerade(rule.subnet)
        }
        let afterRm = late.sent
        try #require(TestNetwork.waitUntil(timeout: 15) { early.isDone && late.isDone })

        #expect(early.answers.isEmpty, "\(early.answers)")
        #expect(try unmasqueraded(in: lab))
        #expect(late.answers.contains { $0.seq > afterRm + 3 }, "\(late.answers)")
        #expect(late.lost.isEmpty, "\(late.answers)")
    }

    @Test("a failed cleanup after masquerade add or rm is one warning; the rule is changed all the same")
    func failedCleanupIsAWarning() throws {
        let lab = try Lab(hostOnly: "mqwa")
        defer { lab.destroy() }
        let rule = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        let warnings = try inNamespace(lab.host) { () throws -> [String] in
            let publisher = try Publisher()
            var warnings: [String] = []
            publisher.warn = { warnings.append($0) }
            publisher.flowCleaner = { _ in throw NetlinkError.request(what: "delete conntrack entry", errno: .permission) }
            _ = try publisher.addMasquerade(rule)
            _ = try publisher.addMasquerade(rule)   // already there: no change, no cleanup
            #expect(warnings.count == 1)
            try publisher.removeMasquerade(rule.subnet)
            return warnings
        }
        let warning = "the change is committed, but UDP flows from 10.88.0.0/24 could not be cleared from conntrack and may keep their old path until they fall silent: kernel refused 'delete conntrack entry': Operation not permitted (EPERM)"
        #expect(warnings == [warning, warning])
        #expect(try lab.nftfwdOK("masquerade", "ls").stdout.contains("10.88.0.0/24") == false)
    }

    /// Whether the host's conntrack entry of the stream from port 40000 exists, unmasqueraded.
    private func unmasqueraded(in lab: BridgeLab) throws -> Bool {
        let flows = try inNamespace(lab.host) { try Conntrack().flows(.ipv4) }
        return flows.contains { $0.sourcePort == 40000 && $0.source == IPAddress("10.88.0.2")! && !$0.sourceIsTranslated }
    }
}
