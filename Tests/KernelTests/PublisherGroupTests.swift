import Testing
import TestSupport
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// `Publisher.publish` and `removeAll`, the group operations of nftfwd-cni and nftfwd-proxy,
/// against a real table.
@Suite("Kernel: publishing a group of mappings in one batch", .kernelTest)
struct PublisherGroupTests {
    func mapping(_ host: String, _ target: String, _ proto: String = "tcp", _ owner: String) throws -> Mapping {
        try Mapping.parse(host: host, target: target, proto: proto, comment: owner)
    }

    @Test("all or nothing: a conflict anywhere in the group (another owner's same mapping included) publishes none of it; again is unchanged")
    func allOrNothing() throws {
        let lab = try Lab(hostOnly: "grp1")
        defer { lab.destroy() }
        try inNamespace(lab.host) {
            let publisher = try Publisher()
            publisher.flowCleaner = nil
            let a = [try mapping("8080", "10.0.0.2:80", "tcp", "a"), try mapping("8081", "10.0.0.2:81", "udp", "a"),
                     try mapping("[::]:8080", "[fd00::2]:80", "tcp", "a")]
            let first = try publisher.publish(a)
            #expect(first.added == a && first.unchanged.isEmpty)
            let again = try publisher.publish(a)
            #expect(again.added.isEmpty && again.unchanged == a)
            let generation = try publisher.generation()
            for clash in [try mapping("8081", "10.0.0.3:81", "udp", "b"),     // same port, other target
                          try mapping("8080", "10.0.0.2:80", "tcp", "b"),     // the same mapping, another owner
                          try mapping("198.51.100.1:8080", "10.0.0.3:80", "tcp", "b")] {   // bound, under a wildcard
                #expect(refusal { try publisher.publish([try mapping("9000", "10.0.0.3:90", "tcp", "b"), clash]) }?.mappingError != nil)
            }
            #expect(try publisher.generation() == generation, "no batch was committed")
            #expect(Set(try publisher.list().mappings.map(\.mapping)) == Set(a))
        }
    }

    @Test("takingOver: conflicting mappings the predicate accepts are deleted in the same batch; removeAll removes only the owner's")
    func takeOverAndRemove() throws {
        let lab = try Lab(hostOnly: "grp2")
        defer { lab.destroy() }
        try inNamespace(lab.host) {
            let publisher = try Publisher()
            publisher.flowCleaner = nil
            let stale = try mapping("9000-9001", "10.0.0.2:9000-9001", "tcp", "dead")
            let other = try mapping("7000", "10.0.0.9:70", "tcp", "alive")
            _ = try publisher.publish([stale, other])
            let fresh = try mapping("9001", "10.0.0.5:80", "tcp", "new")
            #expect(refusal { try publisher.publish([fresh]) }?.mappingError != nil)
            let outcome = try publisher.publish([fresh], takingOver: { $0.comment == "dead" })
            #expect(outcome.replaced == [stale] && outcome.added == [fresh])
            #expect(Set(try publisher.list().mappings.map(\.mapping)) == [other, fresh])
            // A predicate that accepts nothing in the way changes nothing either.
            #expect(refusal { try publisher.publish([try mapping("7000", "10.0.0.5:70", "tcp", "new")], takingOver: { $0.comment == "dead" }) }?.mappingError != nil)
            // With `near`, found by point lookups; a hint elsewhere finds nothing to remove.
            #expect(try publisher.removeAll(where: { $0.comment == "new" }, near: [try mapping("9500", "10.0.0.5:80", "tcp", "new")]).isEmpty)
            #expect(try publisher.removeAll(where: { $0.comment == "new" }, near: [fresh]) == [fresh])
            _ = try publisher.publish([fresh])
            #expect(try publisher.removeAll { $0.comment == "new" } == [fresh])
            #expect(try publisher.removeAll { $0.comment == "new" }.isEmpty, "idempotent")
            #expect(try publisher.list().mappings.map(\.mapping) == [other])
        }
    }

    @Test("masquerade rules come in the same batch, once; an overlapping other rule fails the group")
    func masquerade() throws {
        let lab = try Lab(hostOnly: "grp3")
        defer { lab.destroy() }
        try inNamespace(lab.host) {
            let publisher = try Publisher()
            publisher.flowCleaner = nil
            let rule = try MasqueradeRule.parse(subnet: "10.89.0.0/24", outNot: nil)
            let one = try publisher.publish([try mapping("8080", "10.89.0.2:80", "tcp", "c1")], masquerade: [rule])
            #expect(one.masqueradeAdded == [rule])
            let two = try publisher.publish([try mapping("8090", "10.89.0.3:80", "tcp", "c2")], masquerade: [rule])
            #expect(two.masqueradeAdded.isEmpty && two.added.count == 1)
            let wider = try MasqueradeRule.parse(subnet: "10.89.0.0/16", outNot: nil)
            #expect(refusal { try publisher.publish([try mapping("8095", "10.89.0.4:80", "tcp", "c3")], masquerade: [wider]) }?.mappingError != nil)
            #expect(try publisher.list().mappings.count == 2)
            #expect(try publisher.list().masquerade == [rule])
        }
    }
}
