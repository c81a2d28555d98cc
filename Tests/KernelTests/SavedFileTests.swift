import Testing
import TestSupport
import SavedState
#if canImport(Glibc)
import Glibc
#endif

/// Where the saved state lives, and the systemd units that use it; no root needed.
@Suite("Saved state: paths and systemd units")
struct SavedFileTests {
    @Test("the default file is per table; two spellings of one path compare equal")
    func paths() {
        #expect(StateFile.defaultPath(table: "nftfwd") == "/etc/nftfwd/mappings.json")
        #expect(StateFile.defaultPath(table: "web") == "/etc/nftfwd/mappings-web.json")
        #expect(StateFile.canonical("/tmp/../tmp/./x.json") == "/tmp/x.json")
        #expect(StateFile.canonical("/nonexistent-dir/x.json") == "/nonexistent-dir/x.json")
    }

    @Test("systemd-analyze verify accepts both units (in a scratch root holding the binary they start)")
    func units() throws {
        let root = "/tmp/nftfwd-units-\(getpid())"
        defer { Command.run(["rm", "-rf", root]) }
        let setup = """
        set -e
        mkdir -p '\(root)/usr/local/sbin' '\(root)/etc/systemd/system' '\(root)/usr/lib/systemd' '\(root)/bin'
        cp -r /lib/systemd/system '\(root)/usr/lib/systemd/'
        cp '\(nftfwdBinary)' '\(root)/usr/local/sbin/nftfwd'
        cp /bin/kill '\(root)/bin/kill'
        cp '\(repositoryRoot)'/contrib/systemd/*.service '\(root)/etc/systemd/system/'
        """
        try Command.check(["bash", "-c", setup])
        let verify = Command.run(["systemd-analyze", "verify", "--root=\(root)",
                                  "/etc/systemd/system/nftfwd-restore.service", "/etc/systemd/system/nftfwd-relay.service"])
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify)")
    }
}
