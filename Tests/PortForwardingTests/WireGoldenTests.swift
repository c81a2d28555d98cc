import Testing
import NFTables
import NFTablesFake
@testable import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// The bytes nftfwd sends, pinned: the table's creation batch, one element added and one
/// deleted, each beside the nft command that makes the kernel hold the same thing (the
/// kernel test `GoldenWireKernelTests` checks that claim in a namespace, by listing).
///
/// The files in WireGolden/ hold each batch's messages (BATCH_BEGIN/END left out; their
/// framing is `BatchTests`' job) in hex, one message per paragraph under a `#` line saying
/// what it does. A change of layout changes them on purpose: run this suite with
/// NFTFWD_WRITE_GOLDEN=1 to rewrite them (the run then fails, so review the diff), and update
/// create-table.nft to what `nft list table inet nftfwd` prints for the new table.
@Suite("Golden wire bytes")
struct WireGoldenTests {
    /// `nft -f WireGolden/create-table.nft` (the listing of an empty table nftfwd created).
    @Test("the table's creation batch") func creation() throws {
        try check(WireExamples.creation(), "create-table.hex")
    }

    /// `nft create element inet nftfwd dnat4_any '{ tcp . 8080 comment "8080/tcp -> 10.0.0.2:80" : 10.0.0.2 . 80 }'`
    @Test("an element added") func add() throws {
        try check(WireExamples.add(), "add-element.hex")
    }

    /// `nft delete element inet nftfwd dnat4_any '{ tcp . 8080 }'`
    @Test("an element deleted") func delete() throws {
        try check(WireExamples.delete(), "delete-element.hex")
    }

    func check(_ batch: Batch, _ name: String) throws {
        let text = WireExamples.hex(batch)
        let path = WireExamples.directory + "/" + name
        if getenv("NFTFWD_WRITE_GOLDEN") != nil {
            try #require(WireExamples.write(text, to: path), "cannot write \(path)")
            Issue.record("rewrote \(path): review the diff, then run again without NFTFWD_WRITE_GOLDEN")
            return
        }
        let golden = try #require(WireExamples.read(path), "cannot read \(path)")
        // Paragraph by paragraph, so a failure names the message that changed.
        let have = text.split(separator: "\n\n"), want = golden.split(separator: "\n\n")
        #expect(have.count == want.count, "\(name): \(have.count) messages where the golden file has \(want.count)")
        for (h, w) in zip(have, want) where h != w {
            Issue.record("\(name): message differs\nnow:\n\(h)\ngolden:\n\(w)")
            break
        }
    }
}

/// The three batches, as `Publisher` builds them (sequence numbers from 1).
enum WireExamples {
    static let layout = TableLayout(name: "nftfwd")
    static var mapping: Mapping { try! Mapping.parse(host: "8080", target: "10.0.0.2:80") }

    static func creation() -> Batch {
        var batch = Batch(table: layout.table)
        layout.create(in: &batch)
        return batch
    }

    static func add() throws -> Batch {
        var batch = Batch(table: layout.table)
        try Publisher(session: NFTablesFake()).addElements(of: mapping, to: &batch)
        return batch
    }

    static func delete() throws -> Batch {
        var batch = Batch(table: layout.table)
        try Publisher(session: NFTablesFake()).deleteElements(of: mapping, from: &batch)
        return batch
    }

    static var directory: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/WireGolden"
    }

    /// Each message: `# what it does`, then its bytes, 16 to a line.
    static func hex(_ batch: Batch) -> String {
        var paragraphs: [String] = []
        var offset = 0, index = 0
        let bytes = batch.bytes
        while offset + 4 <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
            let end = min(offset + ((length + 3) & ~3), bytes.count)
            var lines = ["# " + (batch.operation(batch.firstSeq &+ UInt32(index)) ?? "?")]
            var line = offset
            while line < end {
                lines.append(bytes[line..<min(line + 16, end)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " "))
                line += 16
            }
            paragraphs.append(lines.joined(separator: "\n"))
            offset = end
            index += 1
        }
        return paragraphs.joined(separator: "\n\n") + "\n"
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ text: String, to path: String) -> Bool {
        guard let file = fopen(path, "w") else { return false }
        defer { fclose(file) }
        let bytes = Array(text.utf8)
        return fwrite(bytes, 1, bytes.count, file) == bytes.count
    }
}
