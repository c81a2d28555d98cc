import Testing
import TestSupport
import SavedState
#if canImport(Glibc)
import Glibc
#endif

/// What a test network leaves in the host's /run/nftfwd when it is destroyed: nothing of its own.
@Suite("Test support: a destroyed test network leaves no file of its own in /run/nftfwd or /tmp", .kernelTest)
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

    @Test("files and folders under the network's /tmp prefix go with it; another network's stay")
    func temporaryFiles() throws {
        let lab = try Lab(hostOnly: "tmpf")
        defer { lab.destroy() }
        let log = "/tmp/\(lab.net.prefix)-relay.log", folder = "/tmp/\(lab.net.prefix)-scratch"
        let other = "/tmp/\(lab.net.prefix)0-relay.log"   // a network whose prefix extends ours
        defer { unlink(other) }
        for path in [log, other] {
            let fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            try #require(fd >= 0, "\(path)")
            close(fd)
        }
        try #require(mkdir(folder, 0o700) == 0)
        let inside = open(folder + "/state.json", O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        try #require(inside >= 0)
        close(inside)
        lab.destroy()
        #expect(access(log, F_OK) != 0, "\(log) is still there")
        #expect(access(folder, F_OK) != 0, "\(folder) is still there")
        #expect(access(other, F_OK) == 0, "another network's file was removed")
    }
}
