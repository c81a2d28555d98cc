import Testing
import TestSupport
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// save, restore, diff, check and --save, in a namespace's table, with files under /tmp that
/// the tests name (never /etc/nftfwd).
@Suite("Kernel: saving and restoring the table", .kernelTest)
struct PersistenceTests {
    /// A directory of its own for one test's files, removed with `remove()`.
    struct Scratch {
        let path: String
        init(_ lab: Lab) { path = "/tmp/\(lab.net.prefix)-state"; Command.sh("rm -rf '\(path)'") }
        func file(_ name: String = "mappings.json") -> String { path + "/" + name }
        func remove() { Command.sh("rm -rf '\(path)'") }
        /// The names in the directory, sorted (hidden ones too: a temporary file would be hidden).
        func entries() -> [String] {
            Command.sh("ls -A '\(path)'").stdout.split(separator: "\n").map(String.init).sorted()
        }
    }

    static func publishSome(_ lab: Lab) throws {
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--comment", "web")
        try lab.nftfwdOK("add", "5353", "198.18.2.2:53", "--proto", "udp")
        try lab.nftfwdOK("add", "8000-8009", "198.18.2.2:9000-9009")
        try lab.nftfwdOK("add", "[::]:8080", "[2001:db8:2::2]:80")
        try lab.nftfwdOK("add", "127.0.0.1:6379", "198.18.2.2:6379")
        try lab.nftfwdOK("masquerade", "add", "198.18.2.0/24", "--out-not", "h1")
    }

    static func mode(_ path: String) -> String {
        Command.run(["stat", "-c", "%a", path]).stdout.trimmingCharacters()
    }

    @Test("save writes the ls --json document; after a simulated reboot (nft flush ruleset) restore puts back the same table")
    func saveFlushRestore() throws {
        let lab = try Lab(hostOnly: "sv")
        let scratch = Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try Self.publishSome(lab)
        let before = try lab.table()
        let file = scratch.file()   // its directory does not exist yet: save creates it

        let saved = try lab.nftfwdOK("save", file)
        #expect(saved.stdout == "saved 5 mapping(s) of table inet nftfwd to \(file)\n")
        #expect(scratch.entries() == ["mappings.json"])          // no temporary file left
        #expect(Self.mode(file) == "644")
        #expect(Self.mode(scratch.path) == "755")
        let text = try lab.net.exec(lab.host, ["cat", file]).stdout
        let listed = try lab.nftfwdOK("ls", "--json").stdout
        #expect(try StateDocument.parse(text) == StateDocument.parse(listed))
        #expect(try StateDocument.parse(text).masquerade == [MasqueradeRule.parse(subnet: "198.18.2.0/24", outNot: "h1")])
        #expect(!text.contains("\"relay\""))                     // a running process's view is not state

        // The reboot: every table gone. Then what nftfwd-restore.service runs.
        try lab.net.exec(lab.host, ["nft", "flush", "ruleset"])
        #expect(try lab.ruleset() == "")
        let restored = try lab.nftfwdOK("restore", file)
        #expect(restored.stdout == "restored 5 mapping(s): 5 added, 0 removed, 0 unchanged; 1 masquerade rule(s): 1 added, 0 removed\n")
        #expect(normalized(try lab.table()) == normalized(before))

        // Restoring again changes nothing, and saving again gives the same file.
        #expect(try lab.nftfwdOK("restore", file).stdout == "restored 5 mapping(s): 0 added, 0 removed, 5 unchanged; 1 masquerade rule(s): 0 added, 0 removed\n")
        try lab.nftfwdOK("save", file)
        #expect(try lab.net.exec(lab.host, ["cat", file]).stdout == text)
    }

    @Test("diff and check: the same exits 0, a difference 1 with what is missing and extra, trouble 2")
    func diffAndCheck() throws {
        let lab = try Lab(hostOnly: "dif")
        let scratch = Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80", "--comment", "web")
        try lab.nftfwdOK("add", "5353", "198.18.2.2:53", "--proto", "udp")
        let file = scratch.file()
        try lab.nftfwdOK("save", file)

        let same = lab.nftfwd("diff", file)
        #expect(same.status == 0 && same.stdout == "" && same.stderr == "", "\(same)")
        let ok = lab.nftfwd("check", file)
        #expect(ok.status == 0, "\(ok)")
        #expect(ok.stdout == "ok: table inet nftfwd matches \(file) (2 mapping(s))\n")

        try lab.nftfwdOK("rm", "8080")
        try lab.nftfwdOK("add", "9090", "198.18.2.2:90")
        try lab.nftfwdOK("masquerade", "add", "198.18.2.0/24")
        let diff = lab.nftfwd("diff", file)
        #expect(diff.status == 1, "\(diff)")
        #expect(diff.stdout == """
        + 8080/tcp -> 198.18.2.2:80 (web)  (in file, not in kernel)
        - 9090/tcp -> 198.18.2.2:90  (in kernel, not in file)
        - masquerade 198.18.2.0/24  (in kernel, not in file)

        """)
        let check = lab.nftfwd("check", file)
        #expect(check.status == 1, "\(check)")
        #expect(check.stdout == """
        table inet nftfwd differs from \(file): 1 missing, 2 extra
        missing: 8080/tcp -> 198.18.2.2:80 (web)
        extra: 9090/tcp -> 198.18.2.2:90
        extra: masquerade 198.18.2.0/24
        'nftfwd restore \(file)' makes the table match the file again

        """)

        // No table at all: everything in the file is missing.
        try lab.net.exec(lab.host, ["nft", "flush", "ruleset"])
        let gone = lab.nftfwd("check", file)
        #expect(gone.status == 1)
        #expect(gone.stdout.hasPrefix("table inet nftfwd differs from \(file) (the table does not exist): 2 missing\n"))

        // Trouble: no file, a bad file, a table nftfwd cannot read.
        let missing = lab.nftfwd("diff", scratch.file("none.json"))
        #expect(missing.status == 2)
        #expect(missing.stderr == "nftfwd: cannot read \(scratch.file("none.json")): No such file or directory (ENOENT) ('nftfwd save \(scratch.file("none.json"))' writes it)\n")
        let bad = lab.nftfwd("check", "-", stdin: #"[{"host": "0", "target": "198.18.2.2:80"}]"#)
        #expect(bad.status == 2)
        #expect(bad.stderr == "nftfwd: entry 1: host: port 0 is out of range: use 1-65535\n")
        try lab.nftfwdOK("restore", file)
        try lab.net.exec(lab.host, ["nft", "add element inet nftfwd dnat4_any { tcp . 9999 : 198.18.2.9 . 99 }"])
        let foreign = lab.nftfwd("diff", file)
        #expect(foreign.status == 2)
        #expect(foreign.stderr.contains("was changed outside nftfwd"))
    }

    @Test("a failing write (a full disk) exits 2 and leaves the old file whole, with no temporary file")
    func failedSaveKeepsOldFile() throws {
        let lab = try Lab(hostOnly: "full")
        let scratch = Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        // A 16 KiB tmpfs mounted in a mount namespace of this one shell only: the host never
        // sees it. The old file fits; 300 mappings (about 60 KiB of JSON) do not.
        let disk = scratch.path + "/disk"
        let file = disk + "/mappings.json"
        try Command.check(["mkdir", "-p", disk])
        try Command.check(["tee", scratch.path + "/big.json"], stdin: ScaleTests.file(300, firstPort: 20000))
        let script = """
        set -e
        mount -t tmpfs -o size=16k nftfwd-test '\(disk)'
        '\(nftfwdBinary)' save '\(file)' > /dev/null
        cp '\(file)' '\(scratch.path)/before.json'
        '\(nftfwdBinary)' apply '\(scratch.path)/big.json' > /dev/null
        set +e
        '\(nftfwdBinary)' save '\(file)' 2> '\(scratch.path)/stderr'
        echo "status $?"
        cmp '\(file)' '\(scratch.path)/before.json' && echo "old file intact"
        ls -A '\(disk)'
        """
        let result = try lab.net.exec(lab.host, ["unshare", "--mount", "--propagation", "private", "bash", "-c", script])
        #expect(result.stdout == "status 2\nold file intact\nmappings.json\n", "\(result)")
        let stderr = try lab.net.exec(lab.host, ["cat", scratch.path + "/stderr"]).stdout
        #expect(stderr == "nftfwd: cannot save to \(file): write: No space left on device (ENOSPC); the previous file, if any, is unchanged\n")
    }

    @Test("--save and NFTFWD_SAVE persist add, rm, apply, masquerade add/rm, flush and restore; a refused change saves nothing")
    func saveFlag() throws {
        let lab = try Lab(hostOnly: "sflag")
        let scratch = Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        let file = scratch.file()
        func saved() throws -> [String] {
            try MappingFile.parse(try lab.net.exec(lab.host, ["cat", file]).stdout).map(\.label)
        }
        func nftfwd(_ args: String..., stdin: String? = nil) -> CommandResult {
            lab.net.run(lab.host, ["env", "NFTFWD_SAVE=\(file)", nftfwdBinary] + args, stdin: stdin)
        }
        #expect(nftfwd("add", "8080", "198.18.2.2:80").status == 0)
        #expect(try saved() == ["8080/tcp -> 198.18.2.2:80"])
        #expect(nftfwd("add", "8081", "198.18.2.2:81").status == 0)
        #expect(nftfwd("rm", "8080").status == 0)
        #expect(try saved() == ["8081/tcp -> 198.18.2.2:81"])
        // Refused (a conflict): nothing changed, nothing saved.
        let before = try lab.net.exec(lab.host, ["cat", file]).stdout
        #expect(nftfwd("add", "8081", "198.18.2.2:99").status == 1)
        #expect(try lab.net.exec(lab.host, ["cat", file]).stdout == before)
        #expect(nftfwd("apply", "-", stdin: #"[{"host": "7000", "target": "198.18.2.2:70"}]"#).status == 0)
        #expect(try saved() == ["7000/tcp -> 198.18.2.2:70"])
        #expect(nftfwd("masquerade", "add", "198.18.2.0/24").status == 0)
        #expect(try StateDocument.parse(try lab.net.exec(lab.host, ["cat", file]).stdout).masquerade?.map(\.description) == ["198.18.2.0/24"])
        #expect(nftfwd("masquerade", "rm", "198.18.2.0/24").status == 0)
        #expect(try StateDocument.parse(try lab.net.exec(lab.host, ["cat", file]).stdout).masquerade == [])
        #expect(nftfwd("flush").status == 0)
        #expect(try saved() == [])
        #expect(scratch.entries() == ["mappings.json"])

        // Without the variable, only --save writes (to the default file: not tried here, it
        // is the host's /etc); a plain add leaves the file alone.
        try lab.nftfwdOK("add", "6000", "198.18.2.2:60")
        #expect(try saved() == [])
        // restore FILE with NFTFWD_SAVE=OTHER: applies FILE, then writes OTHER.
        let other = scratch.file("other.json")
        let restored = lab.net.run(lab.host, ["env", "NFTFWD_SAVE=\(other)", nftfwdBinary, "restore", file])
        #expect(restored.stdout == "restored 0 mapping(s): 0 added, 1 removed, 0 unchanged; 0 masquerade rule(s): 0 added, 0 removed\n", "\(restored)")
        #expect(try StateDocument.parse(try lab.net.exec(lab.host, ["cat", other]).stdout) == StateDocument(mappings: [], masquerade: []))

        let wrong = lab.net.run(lab.host, ["env", "NFTFWD_SAVE=yes", nftfwdBinary, "add", "6001", "198.18.2.2:60"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.hasPrefix("Error: NFTFWD_SAVE=yes: use 1 (save every change to the default file, /etc/nftfwd/mappings.json), an absolute file path, or 0\n"))
    }
}
