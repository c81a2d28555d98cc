import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// A table read is several dumps; a writer can land between any two. What a read returns must
/// hold at the generation it is labelled with, or the relay's restorer and `ls` are misled.
@Suite("Table reads on the in-memory kernel: a writer between two dumps")
struct SnapshotConsistencyFakeTests {
    func published(_ fake: NFTablesFake) throws -> Publisher {
        let publisher = try Publisher(session: fake)
        #expect(try publisher.add(try Mapping.parse(host: "8080", target: "10.0.0.2:80")) == .added)
        return publisher
    }

    @Test("a table deleted right after the generation was read is not reported missing at that generation")
    func deletedBeforeExistenceCheck() throws {
        let fake = NFTablesFake()
        let publisher = try published(fake)
        let table = TableSpec(name: "nftfwd", family: .inet)
        let had = try fake.generation()
        var deleted = false
        fake.beforeRead = { fake, what in
            guard what == "table exists", !deleted else { return }
            deleted = true
            fake.tamper { $0.tables.removeAll { $0.spec == table } }
        }
        let snapshot = try publisher.list()
        #expect(deleted)
        // Read again after the deletion: missing, and at the generation the deletion made.
        #expect(!snapshot.exists)
        #expect(snapshot.generation == (try fake.generation()))
        #expect(snapshot.generation != had)
    }

    @Test("a writer between the maps' dumps: the read starts over and returns the table as it is now")
    func changedBetweenDumps() throws {
        let fake = NFTablesFake()
        let publisher = try published(fake)
        let rival = try Publisher(session: fake)
        var added = false
        fake.beforeRead = { _, what in
            guard what.hasPrefix("list elements"), !added else { return }
            added = true
            _ = try? rival.add(try! Mapping.parse(host: "9090", target: "10.0.0.9:90"))
        }
        let snapshot = try publisher.list()
        #expect(added)
        #expect(snapshot.generation == (try fake.generation()))
        #expect(snapshot.mappings.map(\.mapping.description).sorted() == ["8080/tcp -> 10.0.0.2:80", "9090/tcp -> 10.0.0.9:90"])
    }

    @Test("a ruleset that moves during every read: a clear error after a bounded number of reads, not a stale snapshot")
    func alwaysMoving() throws {
        let fake = NFTablesFake()
        let publisher = try published(fake)
        var reads = 0
        fake.beforeRead = { fake, what in
            guard what == "table exists" else { return }
            reads += 1
            fake.tamper { _ in }
        }
        #expect {
            try publisher.list()
        } throws: { error in
            "\(error)" == "table inet nftfwd could not be read: the ruleset changed during each of \(10) reads (something rewrites it without pause; 'nft monitor' shows what)"
        }
        #expect(reads == TableReader.maxAttempts)
    }
}
