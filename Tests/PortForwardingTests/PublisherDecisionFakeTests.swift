import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// More of Publisher's decisions on the in-memory kernel: idempotence, all or nothing through
/// Publisher, what apply leaves alone, a group's take-over, restore of a foreign table.
@Suite("Publisher's decisions on the in-memory kernel")
struct PublisherDecisionFakeTests {
    func m(_ host: String, _ target: String, comment: String = "") throws -> Mapping {
        try Mapping.parse(host: host, target: target, comment: comment)
    }

    @Test("add is idempotent and sends nothing the second time; rm of nothing commits nothing")
    func idempotent() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        #expect(try publisher.add(try m("8080", "10.0.0.2:80")) == .added)
        #expect(try publisher.add(try m("8080", "10.0.0.2:80")) == .alreadyPublished)
        #expect(refusal { try publisher.add(try m("8080", "10.0.0.3:80")) }?.mappingError != nil)
        #expect(refusal { try publisher.remove(host: try Endpoint.parse("9090", what: "host"), proto: .tcp) }?.mappingError != nil)
        #expect(fake.commitAttempts == 1)
    }

    @Test("one element the kernel refuses refuses the whole range: no table, no element, the message named")
    func allOrNothing() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        fake.objection = { op in
            if case .addElement(let e, _) = op, e.key.count == 8, e.key[4] == 0x1f, e.key[5] == 0x91 { return .noMemory }   // port 8081
            return nil
        }
        do {
            _ = try publisher.add(try m("8080-8082", "10.0.0.2:80-82"))
            Issue.record("committed although the kernel refused an element")
        } catch PublishError.netlink(let error) {
            guard case .rejected(let list) = error else { Issue.record("\(error)"); return }
            #expect(list.map(\.operation) == ["add element 8081/tcp of 8080-8082/tcp -> 10.0.0.2:80-82"])
            #expect(list.map(\.errno) == [.noMemory])
        }
        #expect(fake.ruleset.tables.isEmpty && fake.commits == 0)
    }

    @Test("apply leaves what is in both untouched (its counters keep counting) and changes the rest in one batch")
    func applyKeeps() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        let kept = try m("8080", "10.0.0.2:80"), gone = try m("9090", "10.0.0.3:90"), new = try m("7070", "10.0.0.4:70")
        _ = try publisher.apply([kept, gone])
        fake.tamper { ruleset in
            let s = ruleset.tables[0].setIndex("dnat4_any")!
            for e in ruleset.tables[0].sets[s].elements.indices { ruleset.tables[0].sets[s].elements[e].packets = 5 }
        }
        let commits = fake.commits
        let summary = try publisher.apply([kept, new])
        #expect(summary == .init(added: 1, removed: 1, unchanged: 1))
        #expect(fake.commits == commits + 1)
        let listed = try publisher.list().mappings
        #expect(listed.map(\.mapping) == [new, kept])
        #expect(listed.map(\.packets) == [0, 5], "the kept element was not rewritten")
        #expect(try publisher.apply([kept, new]) == .init(added: 0, removed: 0, unchanged: 2))
        #expect(fake.commits == commits + 1, "nothing to change, nothing sent")
    }

    @Test("a group conflicting with another owner's mapping fails whole, unless that owner may be taken over")
    func groupTakeOver() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        _ = try publisher.publish([try m("8080", "10.0.0.2:80", comment: "owner:a")])
        let mine = [try m("8080", "10.0.0.9:80", comment: "owner:b"), try m("8443", "10.0.0.9:443", comment: "owner:b")]
        let before = fake.ruleset
        #expect(refusal { try publisher.publish(mine) }?.mappingError != nil)
        #expect(fake.ruleset == before)
        let outcome = try publisher.publish(mine, takingOver: { $0.comment == "owner:a" })
        #expect(outcome.added == mine)
        #expect(outcome.replaced == [try m("8080", "10.0.0.2:80", comment: "owner:a")])
        #expect(try publisher.list().mappings.map(\.mapping) == mine)
        #expect(try publisher.removeAll(where: { $0.comment == "owner:b" }) == mine)
        #expect(try publisher.list().mappings.isEmpty)
    }

    @Test("restore replaces a table nftfwd cannot read in one batch; masquerade rules read back as ranges")
    func restoreForeign() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        let rule = try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")
        #expect(try publisher.addMasquerade(rule) == .added)
        #expect(fake.dump().contains(#"elements = { 10.88.0.0-10.88.0.255 . "br0" comment "10.88.0.0/24 out-not br0" }"#))
        fake.tamper { $0.tables[0].chains.append(ChainSpec(name: "theirs")) }
        let commits = fake.commits
        let document = StateDocument(mappings: [try m("8080", "10.0.0.2:80")], masquerade: [rule])
        guard case .replaced(let problem, let count) = try publisher.restore(document) else {
            Issue.record("a foreign table was not replaced"); return
        }
        #expect(problem.contains("theirs") && count == 1)
        #expect(fake.commits == commits + 1)
        let snapshot = try publisher.list()
        #expect(snapshot.mappings.map(\.mapping) == document.mappings && snapshot.masquerade == [rule])
    }
}
