import Testing
import TestSupport
import SavedState
#if canImport(Glibc)
import Glibc
#endif

/// What a test network leaves in the host's /run/nftfwd when it is destroyed: nothing of its own.
@Suite("Test support: a destroyed test network leaves no file of its own in /run/nftfwd", .kernelTest)
struct TestNetworkCleanupTests {
    @Test("the lock a killed holder left for a saved file under the network's /tmp prefix goes with it; another network's lock stays")
    func savedFileLocks() throws {
        let lab = try Lab(hostOnly: "lock")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try RuntimeDirectory.prepare()   // as any nftfwd that needs it makes it (root's, 0711)
        let file = scratch.file()
        // A lock file exists only while held: its holder removes it before letting go. A relay
        // the network SIGKILLs while it restores from FILE leaves it (as the file below).
        let lock = StateLock.lockPath(for: file)
        let held = open(lock, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        try #require(held >= 0, "\(lock)")
        close(held)
        // A name one character longer than ours: another network's (say prefix + "0"), kept.
        let other = "/run/nftfwd/saved-tmp-\(lab.net.prefix)0\\x2dstate-mappings.json.lock"
        let fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        close(fd)
        defer { unlink(other) }
        lab.destroy()
        #expect(access(lock, F_OK) != 0, "\(lock) is still there")
        #expect(access(other, F_OK) == 0, "another network's lock was removed")
    }
}
