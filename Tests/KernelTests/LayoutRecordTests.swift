#if canImport(Glibc)
import Glibc
#endif
import NFTables
import SavedState
import Testing
import TestSupport

/// The layout record lets `add` and `rm` skip checking the table's structure when the ruleset
/// generation is still the one our own last commit produced. Against the kernel: it must be
/// believed only then (any commit, ours or anyone's, moves the generation), only for this
/// executable, table and namespace, only whole, and only as root's 0600 file.
@Suite("Kernel: the layout record of our last commit", .kernelTest)
struct LayoutRecordTests {
    static let proven = "the table is in today's layout as our last commit left it"
    static let moved = "the ruleset changed since our last commit"
    static let odd = "the layout record is malformed or about another kernel, executable or table"

    func record(_ lab: Lab) throws -> NamespaceRecordFile {
        try #require(try inNamespace(lab.host) { NamespaceRecordFile.layout(table: "nftfwd", executable: nftfwdBinary) })
    }

    func generation(_ lab: Lab) throws -> UInt32 { try inNamespace(lab.host) { try NFTables().generation() } }

    /// The record's text as nftfwd would write it, at `generation` (ten digits).
    func text(_ file: NamespaceRecordFile, generation: UInt32, kernel: String? = nil, table: String = "nftfwd") -> String {
        let digits = String(generation)
        let body = "nftfwd-layout-record 1\nkernel \(kernel ?? file.kernel)\ntable \(table)\ngeneration "
            + String(repeating: "0", count: 10 - digits.count) + digits + "\n"
        return body + "sum " + sha256(body) + "\n"
    }

    @Test("an add after our own commit is not checked again; after anyone else's commit it is, and a tampered rule is refused")
    func provenOnlyAtOurGeneration() throws {
        let lab = try Lab(hostOnly: "layrec")
        defer { lab.destroy() }
        let file = try record(lab)
        defer { file.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let written = try #require(file.load(), "the add that created the table left no record at \(file.path)")
        #expect(written == text(file, generation: try generation(lab)), "\(written)")
        var st = stat()
        #expect(stat(file.path, &st) == 0 && st.st_mode & 0o7777 == 0o600 && st.st_uid == 0)
        let inode = st.st_ino

        let second = try lab.nftfwdOK("-v", "add", "8081", "198.18.2.2:81")
        #expect(second.stderr.contains(Self.proven), "\(second.stderr)")
        #expect(file.load() == text(file, generation: try generation(lab)))
        #expect(stat(file.path, &st) == 0 && st.st_ino == inode, "rewritten in place, not replaced")
        let removed = try lab.nftfwdOK("-v", "rm", "8081")
        #expect(removed.stderr.contains(Self.proven), "\(removed.stderr)")

        // Another program's commit (a rule changed in place, the same count): checked in full, refused.
        let handle = try VerifiedRulesTests.onlyHandle(lab, "nftfwd", chain: "output")
        try lab.net.exec(lab.host, ["nft", "replace rule inet nftfwd output handle \(handle) counter jump publish"])
        let refused = lab.nftfwd("-v", "add", "8082", "198.18.2.2:82")
        #expect(refused.status == 2, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains(Self.moved), "\(refused.stderr)")
        #expect(refused.stderr.contains("of chain 'output' is not 'jump publish'"), "\(refused.stderr)")

        // Repaired by hand (a commit of nft's): checked in full, accepted, and recorded again.
        try lab.net.exec(lab.host, ["nft", "replace rule inet nftfwd output handle \(handle) jump publish"])
        let repaired = try lab.nftfwdOK("-v", "add", "8082", "198.18.2.2:82")
        #expect(repaired.stderr.contains(Self.moved), "\(repaired.stderr)")
        #expect(file.load() == text(file, generation: try generation(lab)))
        #expect(try lab.nftfwdOK("-v", "add", "8083", "198.18.2.2:83").stderr.contains(Self.proven))
        #expect(try lab.table().contains("8083"), "nft lists what the proven add wrote")
    }

    @Test("a record is believed only whole, for this kernel, executable and table, and as root's 0600 file")
    func believedOnlyWhenItProvesItself() throws {
        let lab = try Lab(hostOnly: "layfg")
        defer { lab.destroy() }
        let file = try record(lab)
        defer { file.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        // A rule changed by another program, then a forged record claiming the generation after
        // it: each forgery below must still get the full check, which refuses the table.
        let handle = try VerifiedRulesTests.onlyHandle(lab, "nftfwd", chain: "output")
        try lab.net.exec(lab.host, ["nft", "replace rule inet nftfwd output handle \(handle) counter jump publish"])
        let now = try generation(lab)
        let good = text(file, generation: now)

        func refused(_ text: String, mode: mode_t = 0o600, owner: uid_t = 0, expecting trace: String?, _ what: Comment) {
            file.remove()
            file.store(text)
            chmod(file.path, mode)
            chown(file.path, owner, owner)
            let add = lab.nftfwd("-v", "add", "8081", "198.18.2.2:81")
            #expect(add.status == 2, what)
            #expect(!add.stderr.contains(Self.proven), what)
            if let trace { #expect(add.stderr.contains(trace), "\(what): \(add.stderr)") }
        }
        // Torn (a reader met a rewrite half done): one digit of the generation changed under its sum.
        var torn = good
        if let r = good.firstRange(of: "generation 0") { torn.replaceSubrange(r, with: "generation 1") }
        #expect(torn != good)
        refused(torn, expecting: Self.odd, "a record with a digit changed under its sum")
        refused(text(file, generation: now, kernel: file.kernel + "0"), expecting: Self.odd, "another executable's")
        refused(text(file, generation: now, table: "other"), expecting: Self.odd, "another table's")
        refused(text(file, generation: now &- 1), expecting: Self.moved, "one generation too old")
        refused(good, mode: 0o644, expecting: nil, "mode 0644")
        refused(good, owner: 65534, expecting: nil, "owned by nobody")
        // A FIFO in its place: not waited on (opened non-blocking), not believed.
        file.remove()
        #expect(mkfifo(file.path, 0o600) == 0)
        let fifo = lab.nftfwd("-v", "add", "8081", "198.18.2.2:81")
        #expect(fifo.status == 2 && !fifo.stderr.contains(Self.proven), "\(fifo.stderr)")

        // The control: root's own whole record at the generation is believed (it is root's
        // word, as the apply record is), which makes each refusal above the check's doing.
        file.remove()
        file.store(good)
        let believed = lab.nftfwd("-v", "add", "8081", "198.18.2.2:81")
        #expect(believed.status == 0 && believed.stderr.contains(Self.proven), "\(believed.stderr)")
    }
}

/// SHA-256 as lowercase hex, through sha256sum (coreutils), independent of the code under test.
func sha256(_ text: String) -> String {
    String(Command.run(["sha256sum"], stdin: text).stdout.prefix(64))
}
