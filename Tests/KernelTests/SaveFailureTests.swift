import Testing
import TestSupport
import Logging
import NFTables
import Synchronization
import PortForwarding
import SavedState
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// The saved file's failure paths that a full disk does not reach: the directory sync after the
/// rename, a directory the save creates, the lock, and the relay's restorer. Failures are made
/// with strace's fault injection (`-e inject=fsync:error=EIO:when=N` fails the Nth fsync), in the
/// test's namespace, on files under /tmp.
@Suite("Kernel: saving, when the directory sync or the lock fails", .kernelTest)
struct SaveFailureTests {
    /// `nftfwd ARGS` in the host namespace under strace, the `when`th fsync failing with EIO.
    static func withFailingFsync(_ lab: Lab, when: Int, _ args: [String], environment: [String] = []) -> CommandResult {
        lab.net.run(lab.host, ["env"] + environment + ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync",
                               "-e", "inject=fsync:error=EIO:when=\(when)", nftfwdBinary] + args)
    }

    @Test("the directory sync failing after the rename: exit 2, saying the new file is in place (it is), not that the old one is unchanged")
    func directorySyncAfterRename() throws {
        let lab = try Lab(hostOnly: "dsync")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try Command.check(["mkdir", "-p", scratch.path])
        let file = scratch.file()
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("save", file)
        try lab.nftfwdOK("add", "9090", "198.18.2.2:90")

        // The 1st fsync is the temporary file's, the 2nd the directory's, after the rename.
        let result = Self.withFailingFsync(lab, when: 2, ["save", file])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr == "nftfwd: cannot save to \(file) durably: fsync \(scratch.path): Input/output error (EIO); the new file is in place, but after a crash the previous one may be back\n")
        #expect(Command.run(["cat", file]).stdout.contains("\"target\": \"198.18.2.2:90\""))
        #expect(scratch.entries() == ["mappings.json"])
    }

    @Test("a directory the save creates is synced in its parent before anything is written into it")
    func createdDirectoryIsSynced() throws {
        let lab = try Lab(hostOnly: "mksync")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try Command.check(["mkdir", "-p", scratch.path])
        let file = scratch.path + "/new/mappings.json"
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")

        // The first fsync after mkdir is the parent's: failing it stops the save there.
        let failed = Self.withFailingFsync(lab, when: 1, ["save", file])
        #expect(failed.status == 2, "\(failed)")
        #expect(failed.stderr == "nftfwd: cannot save to \(file): fsync \(scratch.path): Input/output error (EIO); the previous file, if any, is unchanged\n")

        // And on the way that works, the parent's sync is there, between mkdir and the file.
        try Command.check(["rm", "-rf", scratch.path + "/new"])
        let traced = lab.net.run(lab.host, ["strace", "-f", "-qq", "-e", "trace=mkdir,openat,fsync,rename", nftfwdBinary, "save", file])
        #expect(traced.status == 0, "\(traced)")
        let calls = traced.stderr.split(separator: "\n").map(String.init)
        let mkdir = try #require(calls.firstIndex { $0.hasPrefix("mkdir(\"\(scratch.path)/new\"") }, "\(calls)")
        let openParent = try #require(calls[mkdir...].firstIndex { $0.hasPrefix("openat(AT_FDCWD, \"\(scratch.path)\", O_RDONLY|O_CLOEXEC|O_DIRECTORY)") }, "\(calls)")
        let fd = try #require(calls[openParent].split(separator: "=").last.map { String($0).trimmingCharacters() })
        let rename = try #require(calls.firstIndex { $0.hasPrefix("rename(") }, "\(calls)")
        #expect(calls[openParent..<rename].contains { $0.hasPrefix("fsync(\(fd))") && $0.hasSuffix("= 0") }, "\(calls)")
    }

    @Test("a lock file nftfwd cannot trust (mode 0644, or a directory) is the system's trouble: exit 2 saying why, nothing changed")
    func lockFailureIsExit2() throws {
        let lab = try Lab(hostOnly: "lockf")
        let scratch = PersistenceTests.Scratch(lab)
        try Command.check(["mkdir", "-p", scratch.path])
        let file = scratch.file()
        let lock = StateLock.lockPath(for: file)
        defer { lab.destroy(); scratch.remove(); Command.run(["rm", "-rf", lock]) }
        try RuntimeDirectory.prepare()
        for (make, why) in [("install -m 0644 /dev/null '\(lock)'", "its mode is 0644, not 0600"),
                            ("rm -f '\(lock)' && mkdir -m 0700 '\(lock)'", "it is not a regular file")] {
            try Command.check(["bash", "-c", make])
            let result = lab.net.run(lab.host, ["env", "NFTFWD_SAVE=\(file)", nftfwdBinary, "add", "8080", "198.18.2.2:80"])
            #expect(result.status == 2, "\(result)")
            if why.hasPrefix("its mode") {
                #expect(result.stderr == "nftfwd: refusing \(lock): \(why)\n")
            } else {
                // A directory cannot be opened for writing: open fails before any check.
                #expect(result.stderr == "nftfwd: cannot open the lock file \(lock): open: Is a directory (EISDIR)\n")
            }
            #expect(!(try lab.nftfwdOK("ls").stdout.contains("8080")))
            #expect(access(file, F_OK) != 0)
        }
    }

    @Test("--save failing under a relay that restores from that file: the change is rolled back at once, exit 2, saying so")
    func failedSaveUnderRestoringRelay() throws {
        let lab = try Lab(hostOnly: "rollb")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try Command.check(["mkdir", "-p", scratch.path])
        let file = scratch.file()
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("save", file)
        let relay = try RelayTests.startRelay(lab, "--restore-from", file)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.restoreFrom == file })
        let before = try Command.check(["cat", file]).stdout

        // The temporary file's fsync fails: the file keeps the state before the change, which
        // the relay would put back; the command does it before it returns.
        let result = Self.withFailingFsync(lab, when: 1, ["add", "9090", "198.18.2.2:90"], environment: ["NFTFWD_SAVE=\(file)"])
        let right = RestoreRelayTests.published(lab)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr == "nftfwd: cannot save to \(file): fsync: Input/output error (EIO); the previous file, if any, is unchanged; the relay (pid \(relay)) keeps table inet nftfwd equal to \(file), which still holds the previous state, so the change was rolled back: nothing changed\n", "\(result.stderr)")
        #expect(right == ["8080/tcp -> 198.18.2.2:80"])
        #expect(try Command.check(["cat", file]).stdout == before)
        #expect(scratch.entries() == ["mappings.json"])

        // The directory sync failing after the rename: the file holds the change, which stays.
        let late = Self.withFailingFsync(lab, when: 2, ["add", "7070", "198.18.2.2:70"], environment: ["NFTFWD_SAVE=\(file)"])
        #expect(late.status == 2, "\(late)")
        #expect(late.stderr.hasPrefix("nftfwd: the change is made in the kernel, but cannot save to \(file) durably: "), "\(late.stderr)")
        #expect(RestoreRelayTests.published(lab) == ["7070/tcp -> 198.18.2.2:70", "8080/tcp -> 198.18.2.2:80"])
        #expect(try Command.check(["cat", file]).stdout.contains("198.18.2.2:70"))

        // With the file written, the same change is kept.
        try lab.net.exec(lab.host, ["env", "NFTFWD_SAVE=\(file)", nftfwdBinary, "add", "9090", "198.18.2.2:90"])
        #expect(RestoreRelayTests.published(lab) == ["7070/tcp -> 198.18.2.2:70", "8080/tcp -> 198.18.2.2:80", "9090/tcp -> 198.18.2.2:90"])
    }

    @Test("the relay's restorer logs what fails after its commit (the conntrack cleanup) as a warning")
    func restorerWarnings() throws {
        let lab = try Lab(hostOnly: "rwarn")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try Command.check(["mkdir", "-p", scratch.path])
        let file = scratch.file()
        try Command.check(["tee", file], stdin: #"[{"proto": "udp", "host": "5353", "target": "198.18.2.2:53"}]"#)
        let lines = LogLines()
        var logger = Logger(label: "nftfwd relay") { RelayLogHandler(label: $0, journal: false, write: { lines.append($0) }) }
        logger.logLevel = .info

        let outcomes = try inNamespace(lab.host) { () throws -> [TableRestorer.Outcome] in
            let restorer = try TableRestorer(path: file, table: "nftfwd", logger: logger)
            let first = restorer.enforce()   // no table yet: restored, its cleanup works
            restorer.publisher?.flowCleaner = { _ in throw NetlinkError.request(what: "delete conntrack entry", errno: .permission) }
            let remover = try Publisher()
            remover.flowCleaner = nil
            try remover.remove(host: Endpoint(address: nil, ports: PortRange(5353)), proto: .udp)
            return [first, restorer.enforce()]
        }
        #expect(outcomes == [.restored, .restored])
        let warnings = lines.all.filter { $0.contains("could not be cleared") }
        #expect(warnings == ["nftfwd relay: warning: restoring table inet nftfwd from \(file): the change is committed, but UDP flows to 5353/udp could not be cleared from conntrack and may keep their old path until they fall silent: kernel refused 'delete conntrack entry': Operation not permitted (EPERM)\n"], "\(lines.all)")
    }
}

/// Lines a log handler wrote, from any thread.
private final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}
