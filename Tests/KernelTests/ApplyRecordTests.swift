#if canImport(Glibc)
import Glibc
#endif
import NFTables
import Testing
import TestSupport

/// The record that lets an apply of a file the table already holds skip reading the table,
/// against the kernel: believed only while the ruleset generation is the recorded one.
@Suite("Kernel: an apply that changes nothing, decided from the generation and the record", .kernelTest)
struct ApplyRecordTests {
    static let unchanged = "applied 2000 mapping(s): 0 added, 0 removed, 2000 unchanged\n"
    static let fast = "the table holds exactly this file since the last apply"

    func recordPath(_ lab: Lab) throws -> String {
        var st = stat()
        try #require(stat("/run/netns/\(lab.host)", &st) == 0)
        return "/run/nftfwd/apply-\(st.st_dev)-\(st.st_ino)-nftfwd.record"
    }

    func generation(_ lab: Lab) throws -> UInt32 { try inNamespace(lab.host) { try NFTables().generation() } }

    func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
        return String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self)
    }

    func write(_ text: String, to path: String, mode: mode_t = 0o600) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        chmod(path, mode)
    }

    @Test("same file twice: no batch, no read; a foreign element, a tampered or untrusted record: the table is read, as before")
    func noChangeFastPath() throws {
        let lab = try Lab(hostOnly: "applyrec")
        defer { lab.destroy() }
        let path = try recordPath(lab)
        let file = ScaleTests.file(2_000)
        try lab.nftfwdOK("apply", "-", stdin: file)
        let afterApply = try generation(lab)
        let record = try #require(read(path), "apply left its record")
        #expect(record.contains("\ngeneration \(afterApply)\n"), "\(record)")
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o7777 == 0o600 && st.st_uid == 0)

        // The same file: the record and the generation decide it; nothing sent, nothing read.
        let again = try lab.nftfwdOK("-v", "apply", "-", stdin: file)
        #expect(again.stdout == Self.unchanged)
        #expect(again.stderr.contains(Self.fast), "\(again.stderr)")
        #expect(!again.stderr.contains("sending one batch"))
        #expect(try generation(lab) == afterApply)

        // A foreign element moves the generation: the table is read and refused as without a record.
        try lab.net.exec(lab.host, ["nft", "add", "element", "inet", "nftfwd", "dnat4_any", "{ tcp . 5 : 192.0.2.1 . 5 }"])
        let foreign = lab.nftfwd("-v", "apply", "-", stdin: file)
        #expect(foreign.status == 2)
        #expect(foreign.stderr.contains("the ruleset changed since the last apply"), "\(foreign.stderr)")
        #expect(foreign.stderr.contains("changed outside nftfwd"), "\(foreign.stderr)")
        try lab.net.exec(lab.host, ["nft", "delete", "element", "inet", "nftfwd", "dnat4_any", "{ tcp . 5 }"])
        // Once it is gone: read in full, nothing to change, no batch, and recorded at the new generation.
        let generationNow = try generation(lab)
        let reread = try lab.nftfwdOK("-v", "apply", "-", stdin: file)
        #expect(reread.stdout == Self.unchanged)
        #expect(!reread.stderr.contains(Self.fast) && !reread.stderr.contains("sending one batch"), "\(reread.stderr)")
        #expect(try generation(lab) == generationNow)
        #expect(read(path)?.contains("\ngeneration \(generationNow)\n") == true)
        #expect(try lab.nftfwdOK("-v", "apply", "-", stdin: file).stderr.contains(Self.fast))

        // A tampered digest (another well-formed one) at the right generation: read in full.
        let good = try #require(read(path))
        let mappingsLine = try #require(good.split(separator: "\n").first { $0.hasPrefix("mappings ") })
        write(good.replacing(String(mappingsLine), with: "mappings " + String(repeating: "0", count: 64)), to: path)
        let tampered = try lab.nftfwdOK("-v", "apply", "-", stdin: file)
        #expect(tampered.stdout == Self.unchanged)
        #expect(tampered.stderr.contains("the file differs from what the last apply left"), "\(tampered.stderr)")
        #expect(try generation(lab) == generationNow)
        // A record another user could have written (mode 0644) is not read at all.
        write(good, to: path, mode: 0o644)
        let untrusted = try lab.nftfwdOK("-v", "apply", "-", stdin: file)
        #expect(untrusted.stderr.contains("no record of an earlier apply"), "\(untrusted.stderr)")
        #expect(untrusted.stdout == Self.unchanged)

        // Another file is applied as always, and recorded at the generation its batch made.
        let fewer = ScaleTests.file(1_999)
        #expect(try lab.nftfwdOK("apply", "-", stdin: fewer).stdout == "applied 1999 mapping(s): 0 added, 1 removed, 1999 unchanged\n")
        #expect(read(path)?.contains("\ngeneration \(try generation(lab))\n") == true)
        #expect(lab.nftfwd("-v", "apply", "-", stdin: fewer).stderr.contains(Self.fast))
        #expect(try lab.table().components("comment \"") >= 1_999, "nft still lists the table")
    }
}
