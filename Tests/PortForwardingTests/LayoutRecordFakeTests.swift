import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding

/// The layout record (`LayoutRecords`): a command skips checking the table's structure only
/// when the generation is exactly the one our own last commit produced, on the in-memory kernel.
@Suite("Layout record: the structure check skipped after our own commit, on the in-memory kernel")
struct LayoutRecordFakeTests {
    /// A record store in memory, counting what the publisher does with it.
    final class Store {
        var text: String?
        var stores = 0
        func records(kernel: String = "boot b netns 1 exe e") -> LayoutRecords {
            LayoutRecords(kernel: kernel, load: { self.text }, store: { self.text = $0; self.stores += 1 })
        }
    }

    /// The fake's reads by name ("list chains", "list rules", "get element of ..."), in order.
    final class Reads { var names: [String] = [] }

    func setUp() throws -> (NFTablesFake, Publisher, Store, Reads) {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        let store = Store()
        publisher.layoutRecords = store.records()
        let reads = Reads()
        fake.beforeRead = { _, what in reads.names.append(what) }
        return (fake, publisher, store, reads)
    }

    static let structureReads: Set<String> = ["table exists", "list chains", "list maps", "list rules"]

    @Test("after our commit the next add reads only its keys; anyone else's commit in between brings the full check back")
    func skippedOnlyAtOurGeneration() throws {
        let (fake, publisher, store, reads) = try setUp()
        #expect(try publisher.add(try Mapping.parse(host: "8080", target: "10.0.0.2:80")) == .added)
        let afterFirst = try fake.generation()
        #expect(store.text == LayoutRecord(kernel: "boot b netns 1 exe e", table: "nftfwd", generation: afterFirst).text)

        reads.names = []
        #expect(try publisher.add(try Mapping.parse(host: "8081", target: "10.0.0.2:81")) == .added)
        #expect(reads.names.allSatisfy { !Self.structureReads.contains($0) }, "\(reads.names)")
        #expect(reads.names.contains { $0.hasPrefix("get element of") }, "the conflicts are still looked up: \(reads.names)")
        #expect(store.stores == 2)

        // Someone else's commit (one that changes nothing of ours): the add checks the structure again.
        fake.tamper { _ in }
        reads.names = []
        #expect(try publisher.add(try Mapping.parse(host: "8082", target: "10.0.0.2:82")) == .added)
        #expect(reads.names.contains("list rules"), "\(reads.names)")
    }

    @Test("a commit refused with ERESTART (another writer came first) records nothing; the retry checks in full")
    func restartRecordsNothing() throws {
        let (fake, publisher, store, reads) = try setUp()
        try publisher.add(try Mapping.parse(host: "8080", target: "10.0.0.2:80"))
        let stores = store.stores
        fake.interference = 1
        reads.names = []
        #expect(try publisher.add(try Mapping.parse(host: "8081", target: "10.0.0.2:81")) == .added)
        #expect(publisher.restarts == 1)
        // The first attempt believed the record (nothing had moved); the retry read at the
        // interferer's generation, so it checked the structure.
        #expect(reads.names.filter { $0 == "list rules" }.count == 1, "\(reads.names)")
        #expect(store.stores == stores + 1, "recorded once, by the attempt that committed")
        #expect(store.text == LayoutRecord(kernel: "boot b netns 1 exe e", table: "nftfwd", generation: try fake.generation()).text)
    }

    @Test("flush records nothing: the next add finds no table, as the kernel says")
    func flushLeavesNoProof() throws {
        let (fake, publisher, store, _) = try setUp()
        try publisher.add(try Mapping.parse(host: "8080", target: "10.0.0.2:80"))
        let recorded = store.text
        #expect(try publisher.flush())
        #expect(store.text == recorded, "flush wrote no record")
        #expect(try publisher.add(try Mapping.parse(host: "8081", target: "10.0.0.2:81")) == .added)
        #expect(try publisher.list().mappings.map(\.mapping.hostText) == ["8081"], "the table was created again")
        #expect(try fake.tableExists(publisher.layout.table))
    }

    @Test("the record's text: fixed width at every generation, its sum checked, nothing else read as one")
    func recordText() {
        for generation: UInt32 in [1, 9, 10, 4_000_000_000, UInt32.max] {
            let record = LayoutRecord(kernel: "k", table: "t", generation: generation)
            #expect(LayoutRecord(parsing: record.text) == record)
            #expect(record.text.utf8.count == LayoutRecord(kernel: "k", table: "t", generation: 1).text.utf8.count)
        }
        let good = LayoutRecord(kernel: "k", table: "t", generation: 42).text
        #expect(good.contains("\ngeneration 0000000042\n"))
        for bad in [good.replacing("0000000042", with: "0000000043"),          // torn under its sum
                    good.replacing("0000000042", with: "42"),                  // not ten digits
                    good.replacing("nftfwd-layout-record 1", with: "nftfwd-layout-record 2"),
                    String(good.dropLast()), good + "\n", "", "garbage\n"] {
            #expect(LayoutRecord(parsing: bad) == nil, "\(bad)")
        }
        #expect(LayoutRecord.successor(of: UInt32.max) == 1, "the kernel skips 0 when it wraps")
    }
}
