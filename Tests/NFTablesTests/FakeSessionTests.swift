import Testing
import NFTables
import NFTablesFake

/// The fake stands in for the kernel in every decision test above this layer: these pin the
/// kernel behaviour those tests rely on (all or nothing, generation ids, the kernel's errnos).
@Suite("NFTablesFake answers like nf_tables")
struct FakeSessionTests {
    let table = TableSpec(name: "t", family: .inet)
    let map = SetSpec(name: "m", key: [.inetProtocol, .inetService], value: [.ipv4Address, .inetService])
    func element(_ port: UInt8, comment: String = "c") -> Element {
        Element(key: [6, 0, 0, 0, 0, port, 0, 0], value: [10, 0, 0, 2, 0, 80, 0, 0], comment: comment)
    }

    /// What a `.rejected` commit reported (nil: it was committed, or failed otherwise).
    func rejections(_ body: () throws -> UInt32) -> [NetlinkError.Rejection]? {
        do { _ = try body() } catch { if case .rejected(let list)? = error as? NetlinkError { return list } }
        return nil
    }

    func seeded() throws -> NFTablesFake {
        let fake = NFTablesFake()
        var batch = Batch(table: table)
        batch.addTable()
        batch.addMap(map)
        batch.addChain(ChainSpec(name: "c", base: .init(type: "nat", hook: .prerouting, priority: -100)))
        batch.addRule(RuleSpec(chain: "c", [.meta(.l4proto, into: .r1), .lookup(map: "m", from: .r1, into: .r1), .counter]),
                      describedAs: "lookup")
        batch.addElement(element(80), to: "m", describedAs: "80/tcp")
        try fake.commit(batch, expectingGeneration: try fake.generation())
        return fake
    }

    @Test("a committed batch moves the generation on and reads back as written")
    func commitAndRead() throws {
        let fake = try seeded()
        #expect(try fake.generation() == 2)
        #expect(try fake.tableExists(table))
        #expect(try fake.chains(of: table).map(\.name) == ["c"])
        #expect(try fake.chains(of: table).first?.hook == Hook.prerouting.kernelValue)
        #expect(try fake.sets(of: table).map(\.keyType) == [DataType.concat(map.key)])
        #expect(try fake.rules(of: table).first?.values.last == .counter)
        #expect(try fake.elements(of: table, map: "m").map(\.comment) == ["c"])
        #expect(try fake.lookup([element(80).key, element(81).key], in: table, map: "m").map { $0?.comment } == ["c", nil])
    }

    @Test("one refused message refuses the whole batch, each refusal named; nothing changes")
    func allOrNothing() throws {
        let fake = try seeded()
        let before = fake.ruleset
        var batch = Batch(table: table)
        batch.addElement(element(81), to: "m", describedAs: "81/tcp")
        batch.addElement(element(80), to: "m", describedAs: "80/tcp")
        batch.deleteElement(element(99), from: "m", describedAs: "99/tcp")
        batch.addElement(element(82), to: "nosuchmap", describedAs: "82/tcp")
        #expect(rejections { try fake.commit(batch, expectingGeneration: 2) } == [
            .init(operation: "add element 80/tcp", errno: .exists),
            .init(operation: "delete element 99/tcp", errno: .noEntry),
            .init(operation: "add element 82/tcp", errno: .noEntry),
        ])
        #expect(fake.ruleset == before)
        #expect(try fake.generation() == 2)
    }

    @Test("a batch computed at an older generation is refused with ERESTART, before any of it is looked at")
    func staleGeneration() throws {
        let fake = try seeded()
        var batch = Batch(table: table)
        batch.addElement(element(81), to: "m", describedAs: "81/tcp")
        fake.interference = 1
        #expect(rejections { try fake.commit(batch, expectingGeneration: 2) } == [.init(operation: "begin batch", errno: .restart)])
        #expect(try fake.elements(of: table, map: "m").count == 1)
        #expect(try fake.commit(batch, expectingGeneration: try fake.generation()) == 4)
        // Without a generation (a trial, a forced write) nothing is compared.
        batch = Batch(table: table)
        batch.deleteElement(element(81), from: "m", describedAs: "81/tcp")
        #expect(try fake.commit(batch, expectingGeneration: nil) == 5)
    }

    @Test("a trial reports what would be refused and changes nothing; deleting a table takes everything")
    func trialAndDelete() throws {
        let fake = try seeded()
        var batch = Batch(table: TableSpec(name: "scratch", family: .inet))
        batch.addTable()
        batch.addChain(ChainSpec(name: "x"))
        batch.addRule(RuleSpec(chain: "x", [.verdict(.jump("missing"))]), describedAs: "jump")
        #expect(try fake.trial(batch) == [.init(operation: "add rule x: jump", errno: .noEntry)])
        #expect(try !fake.tableExists(TableSpec(name: "scratch", family: .inet)))
        #expect(try fake.generation() == 2)
        var delete = Batch(table: table)
        delete.deleteTable()
        try fake.commit(delete, expectingGeneration: 2)
        #expect(try !fake.tableExists(table))
        #expect(throws: NetlinkError.self) { try fake.elements(of: table, map: "m") }
    }

    @Test("dump prints the ruleset in nft syntax")
    func dump() throws {
        let fake = try seeded()
        let text = fake.dump()
        #expect(text.hasPrefix("table inet t {\n\tmap m {\n\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"))
        #expect(text.contains("elements = { tcp . 80 : 10.0.0.2 . 80 counter packets 0 bytes 0 comment \"c\" }"))
        #expect(text.contains("\tchain c {\n\t\ttype nat hook prerouting priority -100; policy accept;\n"))
        #expect(text.contains("# handle 3\n"), "chain 1 and map 2 took the handles before the rule")
    }
}
