import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// `apply`'s record (`ApplyRecords`): believed only when the generation proves nothing was
/// committed since it was written; every other case reads the table as before.
@Suite("Apply record: the no-change fast path, on the in-memory kernel")
struct ApplyRecordFakeTests {
    /// A record store in memory, counting what the publisher does with it.
    final class Store {
        var text: String?
        var stores = 0
        func records(kernel: String = "boot b netns 1") -> ApplyRecords {
            ApplyRecords(kernel: kernel, load: { self.text }, store: { self.text = $0; self.stores += 1 })
        }
    }

    /// Counts the fake's table reads (every read but the generation passes `beforeRead`).
    final class Reads { var count = 0 }

    func setUp(_ count: Int = 50) throws -> (NFTablesFake, Publisher, Store, Reads, StateDocument) {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        let store = Store()
        publisher.applyRecords = store.records()
        let reads = Reads()
        fake.beforeRead = { _, _ in reads.count += 1 }
        let mappings = try (0..<count).map { try Mapping.parse(host: String(10000 + $0), target: "10.0.0.2:\(10000 + $0)") }
        let rules = [try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")]
        return (fake, publisher, store, reads, StateDocument(mappings: mappings, masquerade: rules))
    }

    @Test("the same file twice: the second apply sends no batch and reads nothing but the generation")
    func sameFileTwice() throws {
        let (fake, publisher, store, reads, document) = try setUp()
        #expect(try publisher.apply(document) == .init(added: 50, removed: 0, unchanged: 0, masqueradeAdded: 1))
        let generation = try fake.generation()
        #expect(store.stores == 1)
        #expect(store.text?.contains("generation \(generation)\n") == true, "recorded at the generation the batch produced")
        let commits = fake.commitAttempts
        reads.count = 0
        #expect(try publisher.apply(document) == .init(added: 0, removed: 0, unchanged: 50))
        #expect(reads.count == 0, "no table read")
        #expect(fake.commitAttempts == commits, "no batch")
        #expect(try fake.generation() == generation)
        // A bare array leaves masquerade alone: the mappings' digest is enough.
        #expect(try publisher.apply(document.mappings) == .init(added: 0, removed: 0, unchanged: 50))
        #expect(reads.count == 0)
        // Another order of the same mappings: the digest is the file's, so a full read, still no batch.
        let shuffled = StateDocument(mappings: document.mappings.reversed(), masquerade: document.masquerade)
        #expect(try publisher.apply(shuffled) == .init(added: 0, removed: 0, unchanged: 50))
        #expect(reads.count > 0)
        #expect(fake.commitAttempts == commits)
        reads.count = 0
    }

    @Test("a foreign element between the two applies moves the generation: the table is read, and refused as before")
    func foreignElementBetween() throws {
        let (fake, publisher, _, reads, document) = try setUp()
        _ = try publisher.apply(document)
        fake.tamper { ruleset in
            let t = ruleset.index(TableLayout(name: "nftfwd").table)!
            let s = ruleset.tables[t].setIndex("dnat4_any")!
            ruleset.tables[t].sets[s].elements.append(ElementRecord(key: [0, 6, 0, 0, 0, 5, 0, 0], value: [1, 2, 3, 4, 0, 5, 0, 0], comment: nil))
        }
        reads.count = 0
        #expect(refusal { try publisher.apply(document) }?.foreignTableError != nil)
        #expect(reads.count > 0)
    }

    @Test("a mapping removed behind nftfwd's back (by another nftfwd): the apply reads and puts it back")
    func changedByAnotherWriter() throws {
        let (fake, publisher, store, reads, document) = try setUp()
        _ = try publisher.apply(document)
        let other = try Publisher(session: fake)   // keeps no record
        #expect(try other.remove(host: document.mappings[0].host, proto: .tcp).count == 1)
        reads.count = 0
        #expect(try publisher.apply(document) == .init(added: 1, removed: 0, unchanged: 49))
        #expect(reads.count > 0)
        #expect(store.text?.contains("generation \(try fake.generation())\n") == true)
    }

    @Test("another file, another masquerade list: the digests differ, the table is read and changed")
    func differentFile() throws {
        let (_, publisher, _, reads, document) = try setUp()
        _ = try publisher.apply(document)
        reads.count = 0
        let fewer = StateDocument(mappings: Array(document.mappings.dropFirst()), masquerade: document.masquerade)
        #expect(try publisher.apply(fewer) == .init(added: 0, removed: 1, unchanged: 49))
        #expect(reads.count > 0)
        reads.count = 0
        let noMasquerade = StateDocument(mappings: fewer.mappings, masquerade: [])
        #expect(try publisher.apply(noMasquerade) == .init(added: 0, removed: 0, unchanged: 49, masqueradeRemoved: 1))
        #expect(reads.count > 0)
        // A comment is part of the state.
        reads.count = 0
        var renamed = noMasquerade.mappings
        renamed[0] = try Mapping.parse(host: renamed[0].hostText, target: renamed[0].target.description, comment: "renamed")
        #expect(try publisher.apply(StateDocument(mappings: renamed, masquerade: [])) == .init(added: 1, removed: 1, unchanged: 48))
        #expect(reads.count > 0)
    }

    @Test("a tampered, malformed, foreign-kernel or other-table record is not believed: full read, and no batch when nothing changed")
    func tamperedRecord() throws {
        let (fake, publisher, store, reads, document) = try setUp()
        _ = try publisher.apply(document)
        let good = try #require(store.text)
        let digest = try #require(ApplyRecord(parsing: good)?.mappings)
        let flipped = String(digest.dropLast()) + (digest.hasSuffix("0") ? "1" : "0")
        let bad = [
            good.replacing(digest, with: flipped),                  // another state's digest
            good.replacing("generation ", with: "generation 0"),   // not the canonical number
            good.replacing("nftfwd-apply-record 1", with: "nftfwd-apply-record 2"),
            good.replacing("table nftfwd", with: "table other"),
            good.replacing("netns 1", with: "netns 2"),
            String(good.dropLast(10)),
            good + "extra\n",
            "",
        ]
        let commits = fake.commitAttempts
        for text in bad {
            store.text = text
            reads.count = 0
            #expect(try publisher.apply(document) == .init(added: 0, removed: 0, unchanged: 50))
            #expect(reads.count > 0, "read for \(text.debugDescription)")
            #expect(fake.commitAttempts == commits, "and nothing sent")
            #expect(store.text == good, "a full read at an unchanged generation writes the true record again")
        }
        // A record claiming the right digest at a generation that is not now.
        store.text = good.replacing("generation \(try fake.generation())", with: "generation \(try fake.generation() &- 1)")
        reads.count = 0
        _ = try publisher.apply(document)
        #expect(reads.count > 0)
    }

    @Test("a commit the kernel answers with a generation other than the next one leaves no record")
    func interleavedCommit() throws {
        let (fake, publisher, store, reads, document) = try setUp()
        fake.afterCommit = { f in f.tamper { _ in } }   // someone commits right after us
        _ = try publisher.apply(document)
        fake.afterCommit = nil
        #expect(store.stores == 0, "the fence's generation is two past ours: what the table holds there is not known")
        reads.count = 0
        #expect(try publisher.apply(document) == .init(added: 0, removed: 0, unchanged: 50))
        #expect(reads.count > 0)
        #expect(store.stores == 1, "the full read at an unchanged generation records it")
    }

    @Test("the digest: every field and the order count, SHA-256 as specified")
    func digest() throws {
        var sha = SHA256()
        sha.update("abc")
        #expect(sha.finish() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var long = SHA256()
        long.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        #expect(long.finish() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var empty = SHA256()
        #expect(empty.finish() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let a = try Mapping.parse(host: "8080", target: "10.0.0.2:80")
        let b = try Mapping.parse(host: "8081", target: "10.0.0.2:80")
        #expect(ApplyRecord.digest(of: [a, b]) == ApplyRecord.digest(of: [a, b]))
        #expect(ApplyRecord.digest(of: [a, b]) != ApplyRecord.digest(of: [b, a]), "the file's order")
        #expect(ApplyRecord.digest(of: [a]) != ApplyRecord.digest(of: [b]))
        #expect(ApplyRecord.digest(of: [a]) != ApplyRecord.digest(of: [try Mapping.parse(host: "8080", target: "10.0.0.2:80", comment: "x")]))
        #expect(ApplyRecord.digest(of: [a]) != ApplyRecord.digest(of: [try Mapping.parse(host: "8080", target: "10.0.0.2:80", proto: "udp")]))
        #expect(ApplyRecord.digest(of: [Mapping]()) != ApplyRecord.digest(of: Set<MasqueradeRule>()))
    }
}
