import Testing
import CNetfilter
@testable import NFTables

@Suite("Batch framing")
struct BatchTests {
    @Test("a batch is BEGIN, one message per operation, END, with consecutive sequence numbers")
    func framing() {
        var batch = Batch(table: TableSpec(name: "t", family: .inet), firstSeq: 10)
        batch.addTable()
        batch.addMap(SetSpec(name: "m", key: [.inetProtocol, .inetService], value: [.ipv4Address, .inetService]))
        batch.addElement(Element(key: [6, 0, 0, 0, 0, 80, 0, 0], value: [10, 0, 0, 2, 0, 80, 0, 0], comment: "c"), to: "m", describedAs: "80/tcp")
        #expect(batch.count == 3)
        #expect(batch.operation(12) == "add element 80/tcp")
        #expect(batch.operation(10) == "add table inet t")
        #expect(batch.operation(13) == nil)
        let framed = batch.framed(generation: 5)
        let messages = BatchTests.headers(framed)
        #expect(messages.map(\.type) == [UInt16(NFNL_MSG_BATCH_BEGIN),
                                         UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWTABLE.rawValue),
                                         UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWSET.rawValue),
                                         UInt16(NFNL_SUBSYS_NFTABLES) << 8 | UInt16(NFT_MSG_NEWSETELEM.rawValue),
                                         UInt16(NFNL_MSG_BATCH_END)])
        #expect(messages.map(\.seq) == [9, 10, 11, 12, 13])
        // NLM_F_EXCL on element adds: an existing key is an error, never silently replaced.
        #expect(messages[3].flags & UInt16(NLM_F_EXCL) != 0)
        // The generation id rides in BATCH_BEGIN as NFNL_BATCH_GENID (big endian).
        let begin = Array(framed[0..<Int(messages[0].length)])
        #expect(begin.suffix(8) == [8, 0, UInt8(NFNL_BATCH_GENID.rawValue), 0, 0, 0, 0, 5])
    }

    @Test("the datagram is reserved once: the size bound is never below what the messages take")
    func sizeBound() {
        let table = TableSpec(name: "nftfwd", family: .inet)
        let variants: [Element] = [
            Element(key: [6, 0, 0, 0, 0, 80, 0, 0], value: [10, 0, 0, 2, 0, 80, 0, 0], comment: "80/tcp -> 10.0.0.2:80"),
            Element(key: Array(repeating: 1, count: 24), value: Array(repeating: 2, count: 20), comment: String(repeating: "c", count: 200)),
            Element(key: [10, 88, 0, 0], comment: "10.88.0.0/24"),
            Element(key: [10, 88, 1, 0], intervalEnd: true),
            Element(key: Array(repeating: 3, count: 20), comment: "keep", keyEnd: Array(repeating: 4, count: 20)),
            Element(key: [1, 2, 3]),
        ]
        for element in variants {
            // Many copies, so an element bound short by even 4 bytes shows past the framing's slack.
            var batch = Batch(table: table)
            for _ in 0..<100 { batch.addElement(element, to: "dnat4_any", describedAs: "e") }
            for _ in 0..<100 { batch.deleteElement(element, from: "masq4_keep", describedAs: "e") }
            #expect(BatchEncoder.sizeBound(of: batch.operations, table: table) >= batch.framed(generation: 7).count, "\(element)")
        }
        var setup = Batch(table: table)
        setup.addTable()
        setup.addMap(SetSpec(name: "m", key: [.inetProtocol, .inetService], value: [.ipv4Address, .inetService]))
        setup.addElement(variants[0], to: "m", describedAs: "e")
        #expect(BatchEncoder.sizeBound(of: setup.operations, table: table) >= setup.framed(generation: nil).count)
    }

    @Test("no generation: BATCH_BEGIN without attribute")
    func noGeneration() {
        var batch = Batch(table: TableSpec(name: "t", family: .inet))
        batch.deleteTable()
        #expect(BatchTests.headers(batch.framed(generation: nil))[0].length == 20)
    }

    struct Header { var length: UInt32; var type: UInt16; var flags: UInt16; var seq: UInt32 }

    static func headers(_ bytes: [UInt8]) -> [Header] {
        var out: [Header] = []
        var offset = 0
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        while offset + 16 <= bytes.count {
            let h = Header(length: u32(offset), type: u16(offset + 4), flags: u16(offset + 6), seq: u32(offset + 8))
            out.append(h)
            offset += (Int(h.length) + 3) & ~3
        }
        return out
    }
}
