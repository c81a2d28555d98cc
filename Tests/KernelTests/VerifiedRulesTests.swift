import Testing
import TestSupport
import NFTables
import SavedState
#if canImport(Glibc)
import Glibc
#endif

/// The fingerprint of today's rules that the CLI keeps in the runtime directory
/// (`VerifiedRulesFile`) lets a check skip parsing rules it saw before: it must never let a
/// changed rule through, and a file root did not write must not be believed. Each test uses a
/// table name of its own, so no other suite's nftfwd touches its memo file.
@Suite("Kernel: the verified-rules memo", .kernelTest, .serialized)
struct VerifiedRulesTests {
    static func memo(_ table: String) throws -> VerifiedRulesFile {
        try #require(VerifiedRulesFile(table: table, executable: nftfwdBinary))
    }

    /// The handle of the one rule of `chain` (the chain's own line has a handle too).
    static func onlyHandle(_ lab: Lab, _ table: String, chain: String) throws -> String {
        let listing = try lab.net.exec(lab.host, ["nft", "-a", "list", "chain", "inet", table, chain]).stdout
        let handles = listing.split(separator: "\n").compactMap { line -> String? in
            guard !line.contains("chain "), let r = line.firstRange(of: "# handle ") else { return nil }
            return String(line[r.upperBound...])
        }
        try #require(handles.count == 1, "\(listing)")
        return handles[0]
    }

    /// The fingerprint of the table's rules as the kernel lists them now.
    static func fingerprint(_ lab: Lab, _ table: String) throws -> [UInt8] {
        try inNamespace(lab.host) { try NFTables().rules(of: TableSpec(name: table, family: .inet), unlessFingerprint: nil).fingerprint }
    }

    @Test("with the memo written, a rule changed in place (same count) is still refused, and the memo is kept as it was")
    func changedRuleRefused() throws {
        let lab = try Lab(hostOnly: "vrch")
        defer { lab.destroy() }
        let table = "vrch\(getpid())"
        let memo = try Self.memo(table)
        defer { unlink(memo.path) }
        try lab.nftfwdOK("--table", table, "add", "8080", "198.18.2.2:80")
        // Another table's commit moves the generation past our last commit's, so the layout
        // record proves nothing and the next add checks the rules (and keeps their fingerprint).
        try lab.net.exec(lab.host, ["nft", "add table ip moved"])
        try lab.nftfwdOK("--table", table, "add", "8081", "198.18.2.2:81")
        let known = try #require(memo.load(), "no memo at \(memo.path) after an add that checked the rules")
        #expect(known == (try Self.fingerprint(lab, table)))

        let handle = try Self.onlyHandle(lab, table, chain: "output")
        try lab.net.exec(lab.host, ["nft", "replace rule inet \(table) output handle \(handle) counter jump publish"])
        let add = lab.nftfwd("--table", table, "add", "8082", "198.18.2.2:82")
        #expect(add.status == 2, "\(add.stdout) \(add.stderr)")
        #expect(add.stderr.contains("rule \(handle) of chain 'output' is not 'jump publish'"), "\(add.stderr)")
        let ls = lab.nftfwd("--table", table, "ls")
        #expect(ls.status == 2)
        #expect(ls.stderr.contains("of chain 'output' is not 'jump publish'"), "\(ls.stderr)")
        #expect(memo.load() == known, "a refused table's fingerprint must not be kept")

        try lab.net.exec(lab.host, ["nft", "replace rule inet \(table) output handle \(handle) jump publish"])
        try lab.nftfwdOK("--table", table, "add", "8082", "198.18.2.2:82")
        #expect(memo.load() == known)
    }

    @Test("a memo is believed only as root's 0600 regular file: the same forged bytes at 0644 or as a symlink are not")
    func forgedMemoBelievedOnlyAsRootsFile() throws {
        let lab = try Lab(hostOnly: "vrfg")
        defer { lab.destroy() }
        let table = "vrfg\(getpid())"
        let memo = try Self.memo(table)
        defer { unlink(memo.path); unlink(memo.path + ".target") }
        try lab.nftfwdOK("--table", table, "add", "8080", "198.18.2.2:80")
        let handle = try Self.onlyHandle(lab, table, chain: "output")
        try lab.net.exec(lab.host, ["nft", "replace rule inet \(table) output handle \(handle) counter jump publish"])
        let forged = try Self.fingerprint(lab, table)

        // Mode 0644 (as if another user could have written it): not read, the change refused.
        memo.store(forged)
        #expect(chmod(memo.path, 0o644) == 0)
        #expect(memo.load() == nil)
        #expect(lab.nftfwd("--table", table, "add", "8081", "198.18.2.2:81").status == 2)
        // A symlink to a root 0600 file with the bytes: not followed.
        unlink(memo.path)
        memo.store(forged)
        #expect(rename(memo.path, memo.path + ".target") == 0)
        #expect(symlink(memo.path + ".target", memo.path) == 0)
        #expect(memo.load() == nil)
        #expect(lab.nftfwd("--table", table, "add", "8081", "198.18.2.2:81").status == 2)

        // The control: root's own 0600 file is believed, byte for byte, which is what makes
        // the two refusals above the file checks' doing (a memo is root's word, not a check).
        unlink(memo.path)
        memo.store(forged)
        #expect(memo.load() == forged)
        let trusted = lab.nftfwd("--table", table, "add", "8081", "198.18.2.2:81")
        #expect(trusted.status == 0, "\(trusted.stderr)")
    }
}
