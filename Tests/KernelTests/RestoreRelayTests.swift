import Testing
import TestSupport
import PortForwarding
import PublishedRelay
import SavedState
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd relay --restore-from FILE`: the table is put back when someone removes or changes it,
/// and changes that go through FILE (--save) are left alone.
@Suite("Kernel: the relay restores the saved table", .kernelTest)
struct RestoreRelayTests {
    /// The mappings and masquerade rules of the namespace's table, or nil if it cannot be read
    /// as nftfwd's.
    static func published(_ lab: Lab) -> [String]? {
        try? inNamespace(lab.host) {
            let snapshot = try Publisher().list()
            return snapshot.mappings.map(\.mapping.label) + snapshot.masquerade.map { "masquerade \($0)" }
        }
    }

    /// The relay's log lines saying it restored the table.
    static func restoredLines(_ lab: Lab) -> [String] {
        Command.run(["cat", RelayTests.relayLog(lab)]).stdout.split(separator: "\n").map(String.init)
            .filter { $0.contains("restored table inet nftfwd") }
    }

    @Test("after nft flush ruleset, nft delete table or a foreign element, the table is back, one log line each")
    func repairs() throws {
        let lab = try Lab("rep")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:9001")
        try lab.nftfwdOK("masquerade", "add", "198.18.2.0/24", "--out-not", "h1")
        let file = scratch.file()
        try lab.nftfwdOK("save", file)
        let expected = ["8080/tcp -> 198.18.2.2:80", "127.0.0.1:8081/tcp -> 198.18.2.2:9001", "masquerade 198.18.2.0/24 out-not h1"]
        _ = try RelayTests.startRelay(lab, "--restore-from", file)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 2 })
        #expect(RelayTests.status(lab)?.restoreFrom == file)

        var latencies: [Double] = []
        for vandalism in [["nft", "flush", "ruleset"], ["nft", "delete", "table", "inet", "nftfwd"],
                          ["nft", "add element inet nftfwd dnat4_any { tcp . 9999 : 198.18.2.9 . 99 }"]] {
            let start = Command.monotonicSeconds()    // before the command: an upper bound
            try lab.net.exec(lab.host, vandalism)
            // The relay watches the ruleset's generation (a quiet machine: 0.1-0.4 s, printed
            // below); the bound is for a loaded CI runner, where `nft` and each `nftfwd ls`
            // this waits on take seconds themselves, not a timing claim.
            let back = TestNetwork.waitUntil(timeout: 10) { Self.published(lab) == expected }
            latencies.append(Command.monotonicSeconds() - start)
            #expect(back, "not restored within 10 s after \(vandalism.joined(separator: " "))")
        }
        print("repair latency after flush ruleset / delete table / foreign element (s): \(latencies)")

        // Served again: the kernel's DNAT for another host, the relay for loopback.
        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "tcp 80 from 198.18.1.2")
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8081) == "tcp 9001 from 198.18.2.1")
        // The relay logs once the kernel has committed: wait for the line, not just the table.
        _ = TestNetwork.waitUntil(timeout: 2) { Self.restoredLines(lab).count >= 3 }
        #expect(Self.restoredLines(lab) == [
            "nftfwd relay: restored table inet nftfwd from \(file) (the table was missing): 2 added, 0 removed, 0 unchanged; masquerade: 1 added, 0 removed",
            "nftfwd relay: restored table inet nftfwd from \(file) (the table was missing): 2 added, 0 removed, 0 unchanged; masquerade: 1 added, 0 removed",
            "nftfwd relay: restored table inet nftfwd from \(file) (changed outside nftfwd: element 0x06000000270f0000 of map dnat4_any has no nftfwd comment): table deleted and created again with 2 mapping(s)",
        ])
    }

    @Test("while it restores from FILE, a change without --save is refused; one with --save, or a new FILE, is kept")
    func changesGoThroughTheFile() throws {
        let lab = try Lab(hostOnly: "keep")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let file = scratch.file()
        try lab.nftfwdOK("save", file)
        _ = try RelayTests.startRelay(lab, "--restore-from", file)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.map(\.listen) == ["0.0.0.0:8080/tcp"] })

        let before = try lab.ruleset()
        for change in [["rm", "8080"], ["add", "9090", "198.18.2.2:90"], ["flush"]] {
            let refused = lab.net.run(lab.host, [nftfwdBinary] + change)
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.hasSuffix("keeps table inet nftfwd equal to \(file) and would undo this change: run it with NFTFWD_SAVE=\(file) to change that file too; nothing changed\n"))
        }
        #expect(try lab.ruleset() == before)
        try lab.nftfwdOK("restore", file)     // the relay's own file: nothing to undo

        // Through the file: the relay follows (its listeners show it read the new table after
        // checking it against the file, in the same poll) and restores nothing.
        for change in [["rm", "8080"], ["add", "9090", "198.18.2.2:90"]] {
            try lab.net.exec(lab.host, ["env", "NFTFWD_SAVE=\(file)", nftfwdBinary] + change)
        }
        #expect(TestNetwork.waitUntil(timeout: 2) { RelayTests.status(lab)?.ports.map(\.listen) == ["0.0.0.0:9090/tcp"] })
        #expect(Self.published(lab) == ["9090/tcp -> 198.18.2.2:90"])

        // A new FILE (written elsewhere, renamed over it) is applied within a second.
        try Command.check(["tee", file + ".new"], stdin: #"[{"host": "7070", "target": "198.18.2.2:70"}]"#)
        try Command.check(["mv", file + ".new", file])
        #expect(TestNetwork.waitUntil(timeout: 1) { Self.published(lab) == ["7070/tcp -> 198.18.2.2:70"] })
        _ = TestNetwork.waitUntil(timeout: 2) { Self.restoredLines(lab).count >= 1 }
        #expect(Self.restoredLines(lab) == [
            "nftfwd relay: restored table inet nftfwd from \(file) (1 missing, 1 extra): 1 added, 1 removed, 0 unchanged",
        ])
    }

    @Test("a --save change made just after the table vanished keeps FILE's other mappings, and the relay serves them all along")
    func changeRightAfterAFlush() throws {
        let lab = try Lab(hostOnly: "race")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:81")
        let file = scratch.file()
        try lab.nftfwdOK("save", file)
        _ = try RelayTests.startRelay(lab, "--restore-from", file)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 2 })

        // Each round: with FILE's lock held here (as a --save change holds it), the table is
        // deleted, and an `add --save` started waits for the lock; it gets it when it is let go
        // (it tries every 5 ms, the relay every 200 ms), so it meets the table still missing.
        // Before the fix it then saved its new mapping alone as FILE, and the relay dropped the
        // others for good.
        var expected = ["8080/tcp -> 198.18.2.2:80", "127.0.0.1:8081/tcp -> 198.18.2.2:81"]
        var caughtUp = 0
        for port in 9001...9003 {
            let log = "/tmp/\(lab.net.prefix)-add-\(port).log"
            #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == expected.count })
            let add: pid_t
            do {
                let lock = try #require(try StateLock.acquire(for: file, timeout: 5))
                add = try withExtendedLifetime(lock) { () throws -> pid_t in
                    let served = expected.count
                    try lab.net.exec(lab.host, ["nft", "delete", "table", "inet", "nftfwd"])
                    let add = try #require(lab.net.background(lab.host, ["env", "NFTFWD_SAVE=\(file)", nftfwdBinary, "add", "\(port)", "198.18.2.2:\(port)", "--save"], log: log))
                    let waiting = TestNetwork.waitUntil(timeout: 5) { Self.sleepsInLockLoop(add) }
                    #expect(waiting, "the add of round \(port) was not seen waiting for the lock")
                    // Meanwhile the relay, finding the lock held, keeps its listeners (it used to
                    // compute its plan from the missing table and stop every port for a poll).
                    // Half a second is over two polls, and well inside its 3 s patience even if
                    // the add took a second to start on a loaded machine.
                    let start = Command.monotonicSeconds()
                    var kept = true
                    while Command.monotonicSeconds() - start < 0.5 {
                        kept = kept && RelayTests.status(lab)?.ports.count == served
                        usleep(20_000)
                    }
                    #expect(kept, "the relay stopped serving while the add held the lock (round \(port))")
                    return add
                }
            }   // the lock is let go: the waiting add takes it within 5 ms
            #expect(Command.wait(pid: add, timeout: 20) == 0, "add \(port): \(Command.run(["cat", log]).stdout)")
            if Command.run(["cat", log]).stdout.contains("and it differed (the table was missing): put \(file)'s state back before the change, as the relay would have") { caughtUp += 1 }
            expected.append("\(port)/tcp -> 198.18.2.2:\(port)")
            let saved = try StateDocument.parse(Command.run(["cat", file]).stdout).mappings.map(\.label)
            #expect(saved.sorted() == expected.sorted(), "after the round for \(port): \(Command.run(["cat", log]).stdout)")
        }
        // At least one round (nearly always all three) had the CLI meet the table missing; the
        // relay's poll can fall in the 5 ms before the add takes the lock.
        #expect(caughtUp >= 1)
        #expect(TestNetwork.waitUntil(timeout: 2) { Self.published(lab)?.sorted() == expected.sorted() && RelayTests.status(lab)?.ports.count == 5 })
    }

    @Test("the table deleted 100 times in a row, about as often as the relay polls: no port ever stops")
    func repeatedFlushes() throws {
        let lab = try Lab(hostOnly: "flap")
        let scratch = PersistenceTests.Scratch(lab)
        defer { lab.destroy(); scratch.remove() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:81")
        try lab.nftfwdOK("add", "[::1]:8082", "198.18.2.2:82", "--proto", "udp")
        let file = scratch.file()
        try lab.nftfwdOK("save", file)
        _ = try RelayTests.startRelay(lab, "--restore-from", file)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 3 })
        // A deletion can land between the relay's check of the table and the read its plan is
        // made from; the plan used to follow that missing table and stop every port until the
        // next poll (the soak saw it about once in 25 flushes). Bounded: 100 rounds of 0.1 s.
        let flusher = try #require(lab.net.background(lab.host, ["sh", "-c", "for i in $(seq 100); do nft delete table inet nftfwd 2>/dev/null; sleep 0.1; done"]))
        #expect(Command.wait(pid: flusher, timeout: 60) == 0)
        #expect(TestNetwork.waitUntil(timeout: 2) { Self.published(lab)?.count == 3 })
        let log = Command.run(["cat", RelayTests.relayLog(lab)]).stdout.split(separator: "\n")
        let stopped = log.filter { $0.contains("stopped") }
        if let first = log.firstIndex(where: { $0.contains("stopped") }) {
            // What the relay saw before it let go: the diagnosis when this fails in CI.
            print("relay log before the first stop:\n" + log[max(0, first - 25)...first].joined(separator: "\n"))
        }
        #expect(stopped.count == 0, "\(stopped.count) ports stopped, e.g. \(stopped.prefix(3))")
        let restored = log.filter { $0.contains("restored table") }.count
        // The relay polls every 200 ms and the deletions come every 100 ms or more, so about
        // one in two is seen and restored; how many exactly is the scheduler's choice under
        // load (CI saw 32 and 50). A fifth proves the table was put back again and again.
        #expect(restored >= 20, "only \(restored) restores logged for 100 deletions")
        print("100 deletions: \(restored) restores, \(stopped.count) ports stopped")
    }

    /// True when the process `pid` started (ip netns exec) or its child holds a descriptor on
    /// `directory` or a file in it: the saved file's lock, which it opens right before waiting.
    /// Whether `pid` (the `env` that runs the add, or the add it execs into) is waiting for a
    /// lock: RuntimeLock's wait is a 5 ms sleep between tries of microseconds, so a process
    /// found asleep (clock_nanosleep) three times 20 ms apart is in that loop; nothing before
    /// the lock in `add --save` sleeps.
    static func sleepsInLockLoop(_ pid: pid_t) -> Bool {
        #if arch(x86_64)
        let nanosleep = "230"
        #else
        let nanosleep = "115"   // aarch64
        #endif
        for _ in 0..<3 {
            let call = Command.run(["cat", "/proc/\(pid)/syscall"]).stdout.split(separator: " ").first.map(String.init)
            guard call == nanosleep else { return false }
            usleep(20_000)
        }
        return true
    }

    @Test("--restore-from a file that cannot be read: exit 1 at start, saying so")
    func unreadableFile() throws {
        let lab = try Lab(hostOnly: "nofile")
        defer { lab.destroy() }
        let missing = "/tmp/\(lab.net.prefix)-none.json"
        let result = lab.net.run(lab.host, [nftfwdBinary, "relay", "--restore-from", missing], timeout: 10)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr == "nftfwd: cannot read \(missing): No such file or directory (ENOENT) ('nftfwd save \(missing)' writes it)\n")
    }
}
