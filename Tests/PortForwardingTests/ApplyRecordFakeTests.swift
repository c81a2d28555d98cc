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

    /// The digest as it was first written, a String per field: the byte writer must produce
    /// the very same bytes, or every record written by an earlier nftfwd would stop matching.
    static func referenceDigest(of mappings: [Mapping]) -> String {
        var sha = SHA256()
        sha.update("mappings \(mappings.count)\n")
        func field(_ text: String) {
            sha.update(String(text.utf8.count) + ":")
            sha.update(text)
        }
        for m in mappings {
            field(m.proto.rawValue)
            field(m.hostFamily.rawValue)
            field(m.host.address.map { "\($0)" } ?? "*")
            field(m.host.ports.description)
            field(m.target.address.map { "\($0)" } ?? "*")
            field(m.target.ports.description)
            field(m.allow.map(\.description).joined(separator: ","))
            field(m.proxyProtocol?.rawValue ?? "")
            field(m.comment)
        }
        return sha.finish()
    }

    @Test("the digest's byte writer writes what formatting each field wrote, for every shape of mapping")
    func digestMatchesTheFormattedFields() throws {
        let shapes: [Mapping] = [
            try Mapping.parse(host: "8080", target: "10.0.0.2:80"),
            try Mapping.parse(host: "1", target: "255.254.0.1:65535", proto: "udp"),
            try Mapping.parse(host: "192.0.2.10:8000-8099", target: "10.0.0.2:9000-9099", proto: "sctp", comment: "a range"),
            try Mapping.parse(host: "[fd00::1]:443", target: "[fd00::2]:8443", comment: "ünïcode ✓ comment"),
            try Mapping.parse(host: "[::]:53", target: "10.0.0.9:53", proto: "udp"),
            try Mapping.parse(host: "127.0.0.1:9000", target: "127.0.0.1:9001"),
            try Mapping.parse(host: "8443", target: "10.0.0.3:443").allowing(["192.168.1.0/24", "10.0.0.0/8", "172.16.0.0/12"]),
            try Mapping.parse(host: "[2001:db8::7]:80", target: "[2001:db8::8]:80").allowing(["2001:db8::/32", "fd00::/8"]),
            try Mapping.parse(host: "7000", target: "10.0.0.4:7000").proxying(.v2),
        ]
        for m in shapes {
            #expect(ApplyRecord.digest(of: [m]) == ApplyRecordFakeTests.referenceDigest(of: [m]), "\(m)")
        }
        // Enough mappings that the buffer is hashed several times over (it flushes every 32 KiB).
        var many: [Mapping] = []
        for i in 0..<5000 {
            let target: String = "10.\(i % 256).\(i / 256).1:\(1 + i)"
            let proto: String = i % 2 == 0 ? "tcp" : "udp"
            let comment: String = i % 3 == 0 ? "c\(i)" : ""
            many.append(try Mapping.parse(host: String(1000 + i), target: target, proto: proto, comment: comment))
        }
        many += shapes
        #expect(ApplyRecord.digest(of: many) == ApplyRecordFakeTests.referenceDigest(of: many))
        #expect(ApplyRecord.digest(of: []) == ApplyRecordFakeTests.referenceDigest(of: []))
    }

    @Test("SHA-256 fed in pieces of every size is SHA-256 of the whole")
    func shaInPieces() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var whole = SHA256()
        whole.update(bytes)
        let expected = whole.finish()
        for piece in [1, 3, 55, 56, 63, 64, 65, 127, 128, 999] {
            var sha = SHA256()
            var at = 0
            while at < bytes.count {
                let end = min(at + piece, bytes.count)
                sha.update(Array(bytes[at..<end]))
                at = end
            }
            #expect(sha.finish() == expected, "pieces of \(piece)")
        }
        // Lengths around the padding's edge (55, 56 and 64 bytes leave different tails).
        var fiftyFive = SHA256()
        fiftyFive.update([UInt8](repeating: 0x61, count: 55))
        #expect(fiftyFive.finish() == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        var sixtyFour = SHA256()
        sixtyFour.update([UInt8](repeating: 0x61, count: 64))
        #expect(sixtyFour.finish() == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }
}
