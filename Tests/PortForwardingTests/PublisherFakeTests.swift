import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// Publisher's decisions against the in-memory kernel: what the kernel tests could only show
/// as root (retries, foreign and older tables), shown here on every run.
@Suite("Publisher on the in-memory kernel")
struct PublisherFakeTests {
    func m(_ host: String, _ target: String) throws -> Mapping { try Mapping.parse(host: host, target: target) }

    @Test("a batch refused with ERESTART is computed again from a fresh read, and counted")
    func restartRetried() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        fake.interference = 3
        #expect(try publisher.add(try m("8080", "10.0.0.2:80")) == .added)
        #expect(publisher.restarts == 3)
        #expect(fake.commitAttempts == 4 && fake.commits == 1)
        #expect(publisher.lastCommittedGeneration == (try fake.generation()))
        #expect(try publisher.list().mappings.map(\.mapping) == [try m("8080", "10.0.0.2:80")])
        // Every retry reads again: a rival published meanwhile is seen as the conflict it is.
        fake.interference = 1
        fake.afterCommit = nil
        var rivalAdded = false
        let rival = try Publisher(session: fake)
        publisher.trace = { line in
            guard line.contains("ERESTART"), !rivalAdded else { return }
            rivalAdded = true
            _ = try? rival.add(try! Mapping.parse(host: "9090", target: "10.0.0.9:90"))
        }
        #expect(refusal { try publisher.add(try m("9090", "10.0.0.3:90")) }?.mappingError != nil)
        #expect(rivalAdded)
    }

    @Test("after the last attempt the ERESTART refusal is reported and nothing was written")
    func restartGivesUp() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        fake.interference = Publisher.maxAttempts
        do {
            _ = try publisher.add(try m("8080", "10.0.0.2:80"))
            Issue.record("committed although every attempt was refused")
        } catch PublishError.netlink(let error) {
            #expect(error.errno == .restart)
        }
        #expect(fake.commitAttempts == Publisher.maxAttempts && fake.commits == 0)
        #expect(fake.ruleset.tables.isEmpty)
    }

    @Test("a table with an object nftfwd does not write is refused as foreign, and left alone")
    func foreignRefused() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        _ = try publisher.add(try m("8080", "10.0.0.2:80"))
        fake.tamper { ruleset in
            let t = ruleset.index(publisher.layout.table)!
            ruleset.tables[t].chains.append(ChainSpec(name: "mine"))
        }
        let before = fake.ruleset
        #expect(refusal { try publisher.add(try m("9090", "10.0.0.3:90")) }?.foreignTableError != nil)
        #expect(refusal { try publisher.list() }?.foreignTableError != nil)
        #expect(refusal { try publisher.remove(host: try Endpoint.parse("8080", what: "host"), proto: .tcp) }?.foreignTableError != nil)
        #expect(fake.ruleset == before && fake.commits == 1)
        // A rule changed behind nftfwd's back is foreign too.
        fake.tamper { ruleset in
            let t = ruleset.index(publisher.layout.table)!
            ruleset.tables[t].chains.removeLast()
            ruleset.tables[t].rules[0].rule.expressions.append(.counter)
        }
        #expect(refusal { try publisher.list() }?.foreignTableError != nil)
        // flush is the documented way out, and works on a table nftfwd cannot read.
        #expect(try publisher.flush())
        #expect(fake.ruleset.tables.isEmpty)
    }

    @Test("a table of nftfwd 0.2 is read as it is and completed by the next change, in that change's batch")
    func olderLayoutUpgraded() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        _ = try publisher.add(try m("8080", "10.0.0.2:80"))
        let current = fake.ruleset
        // What 0.2 wrote: no allow-list sets, and its publish rules.
        fake.tamper { ruleset in
            let t = ruleset.index(publisher.layout.table)!
            ruleset.tables[t].sets.removeAll { TableUpgrade.accessSets.contains($0.spec.name) }
            ruleset.tables[t].rules.removeAll { $0.rule.chain == TableLayout.publishChain }
            for (rule, _) in TableUpgrade.publishRules(.version02) where rule.chain == TableLayout.publishChain {
                ruleset.tables[t].rules.append(.init(handle: ruleset.tables[t].takeHandle(), rule: rule))
            }
        }
        let old = try publisher.list()
        #expect(old.upgrade.publishForm == .version02)
        #expect(!old.upgrade.hasAccessSets)
        #expect(old.mappings.map(\.mapping) == [try m("8080", "10.0.0.2:80")])
        let commits = fake.commits
        #expect(try publisher.add(try m("9090", "10.0.0.3:90")) == .added)
        #expect(fake.commits == commits + 1, "the upgrade rides in the change's own batch")
        #expect(try publisher.reader.verifyStructure().isEmpty)
        let table = try #require(fake.ruleset.table(publisher.layout.table))
        let want = try #require(current.table(publisher.layout.table))
        #expect(table.sets.map(\.spec.name).sorted() == want.sets.map(\.spec.name).sorted())
        #expect(table.rules.filter { $0.rule.chain == TableLayout.publishChain }.map(\.rule)
                == want.rules.filter { $0.rule.chain == TableLayout.publishChain }.map(\.rule))
        #expect(try publisher.list().mappings.map(\.mapping) == [try m("8080", "10.0.0.2:80"), try m("9090", "10.0.0.3:90")])
    }

    @Test("the dump shows a published mapping as nft lists it")
    func dumpShowsMapping() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        _ = try publisher.add(try m("8080", "10.0.0.2:80"))
        let text = fake.dump()
        #expect(text.hasPrefix("table inet nftfwd {\n"))
        #expect(text.contains("tcp . 8080 : 10.0.0.2 . 80 counter packets 0 bytes 0 comment \"8080/tcp -> 10.0.0.2:80\""), "\(text)")
    }
}
