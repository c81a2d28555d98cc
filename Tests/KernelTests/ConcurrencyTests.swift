import Testing
import TestSupport
import PortForwarding
#if canImport(Glibc)
import Glibc
#endif

/// Several nftfwd processes changing one table at the same time: every change is computed from
/// a read, committed with the generation it read, and started over when the kernel refuses it
/// (ERESTART), so no update is lost.
@Suite("Kernel: concurrent writers", .kernelTest)
struct ConcurrencyTests {
    /// Writer processes held at a gate (a file the test holds an exclusive flock on) until
    /// every one of them is ready, then let go at once.
    final class Race {
        let lab: Lab
        let dir: String
        private let gate: Int32
        private var pids: [pid_t] = []

        init(_ lab: Lab) throws {
            self.lab = lab
            dir = "/tmp/\(lab.net.prefix)-race"
            try Command.check(["mkdir", "-p", dir])
            gate = open(dir + "/gate", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard gate >= 0, flock(gate, LOCK_EX) == 0 else { throw NamespaceError(description: "cannot lock the gate") }
        }

        /// Starts writer `name`, which runs `commands` (shell, in the host namespace) once the
        /// gate opens, stopping at the first failure with its exit status. Its stderr goes to
        /// DIR/NAME.err, its start and end times (monotonic) to DIR/NAME.times.
        func writer(_ name: String, _ commands: String) throws {
            let script = """
            touch '\(dir)/\(name).ready'
            flock -s '\(dir)/gate' true
            t0=$(cut -d' ' -f1 /proc/uptime)
            run() { \(commands)
            }
            run 2> '\(dir)/\(name).err'; status=$?
            echo "$t0 $(cut -d' ' -f1 /proc/uptime)" > '\(dir)/\(name).times'
            exit $status
            """
            pids.append(try #require(lab.net.background(lab.host, ["bash", "-c", script])))
        }

        /// Opens the gate once every writer waits at it; returns when it opened.
        func go() throws {
            let ready = TestNetwork.waitUntil(timeout: 20) {
                (try? Command.check(["bash", "-c", "ls '\(dir)'/*.ready | wc -l"]).stdout.trimmingCharacters()) == "\(pids.count)"
            }
            #expect(ready, "writers not ready in 20 s")
            flock(gate, LOCK_UN)
        }

        /// Every writer's exit status (nil: still running after `timeout`).
        func wait(timeout: Double) -> [Int32?] { pids.map { Command.wait(pid: $0, timeout: timeout) } }

        /// How often the writers' batches were refused and recomputed (their -v lines), and
        /// the most retries one operation needed.
        func restarts() -> (total: Int, most: Int) {
            let lines = Command.run(["bash", "-c", "cat '\(dir)'/*.err | grep ERESTART"]).stdout.split(separator: "\n")
            let most = lines.compactMap { line -> Int? in
                guard let r = line.firstRange(of: "(retry ") else { return nil }
                return Int(line[r.upperBound...].prefix { $0.isNumber })
            }.max() ?? 0
            return (lines.count, most)
        }

        /// (start, end) of each writer's run, in seconds of uptime.
        func times() -> [(Double, Double)] {
            Command.run(["bash", "-c", "cat '\(dir)'/*.times"]).stdout.split(separator: "\n").compactMap { line in
                let f = line.split(separator: " ").compactMap { Double($0) }
                return f.count == 2 ? (f[0], f[1]) : nil
            }
        }

        func errors() -> String { Command.run(["bash", "-c", "grep -hv ERESTART '\(dir)'/*.err | head -5"]).stdout }

        func remove() {
            close(gate)
            Command.run(["rm", "-rf", dir])
        }
    }

    static func hostPorts(_ lab: Lab) throws -> [Int] {
        try inNamespace(lab.host) { try Publisher().list().mappings.map { Int($0.mapping.host.ports.first) } }.sorted()
    }

    @Test("4 processes adding 250 mappings each at the same time end with exactly 1,000; every one exits 0")
    func fourTimes250() throws {
        let lab = try Lab(hostOnly: "race")
        let race = try Race(lab)
        defer { lab.destroy(); race.remove() }
        for k in 0..<4 {
            let first = 10000 + k * 250
            try race.writer("add\(k)", """
            for p in $(seq \(first) \(first + 249)); do '\(nftfwdBinary)' -v add $p 198.18.2.2:$p > /dev/null || return; done
            """)
        }
        let start = Command.monotonicSeconds()
        try race.go()
        let statuses = race.wait(timeout: 120)
        let duration = Command.monotonicSeconds() - start
        #expect(statuses == [0, 0, 0, 0], "\(race.errors())")
        #expect(try Self.hostPorts(lab) == Array(10000..<11000))
        // They really overlapped: every one started before any finished.
        let times = race.times()
        #expect(times.count == 4)
        #expect((times.map(\.0).max() ?? 1) < (times.map(\.1).min() ?? 0))
        let restarts = race.restarts()
        print("4x250 concurrent adds: \(format2(duration)) s, \(restarts.total) ERESTART retries, at most \(restarts.most) for one add")
    }

    @Test("an apply racing a stream of adds leaves a serialisable outcome: the file, plus the adds committed after it")
    func applyRacingAdds() throws {
        let lab = try Lab(hostOnly: "rapp")
        let race = try Race(lab)
        defer { lab.destroy(); race.remove() }
        try race.writer("adds", """
        for p in $(seq 30000 30079); do '\(nftfwdBinary)' -v add $p 198.18.2.2:$p > /dev/null || return; done
        """)
        try race.go()
        // Apply once the adds are under way (and far from done: 80 processes to start, one after another).
        #expect(TestNetwork.waitUntil(timeout: 20) { ((try? Self.hostPorts(lab))?.count ?? 0) >= 10 })
        let applied = lab.nftfwd("-v", "apply", "-", stdin: ScaleTests.file(100, firstPort: 20000))
        #expect(applied.status == 0, "\(applied)")
        #expect(race.wait(timeout: 120) == [0], "\(race.errors())")

        // Adds before the apply were removed by it, later ones stay: a suffix of the stream.
        let ports = try Self.hostPorts(lab)
        #expect(Array(ports.prefix(100)) == Array(20000..<20100))
        let adds = Array(ports.dropFirst(100))
        let k = adds.first ?? 30080
        #expect(adds == Array(k..<30080))
        #expect(k > 30000 && k < 30080, "the apply did not land inside the stream of adds (first surviving add: \(k))")
        print("apply racing adds: first surviving add \(k), ERESTART retries: apply \(applied.stderr.components("ERESTART")), adds \(race.restarts().total)")
    }

    @Test("reads racing a table deleted and loaded again (a firewall reload) give the table or no table, never a dump error")
    func readsRacingReloads() throws {
        let lab = try Lab(hostOnly: "rrel")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:81")
        try lab.nftfwdOK("masquerade", "add", "198.18.2.0/24", "--out-not", "h1")
        let expected = try inNamespace(lab.host) { try Publisher().list() }
        // Two transactions per round, as a firewall reload does it: the table is missing in
        // between, and each read (a dozen dumps) runs across some of those moments.
        let listing = try lab.net.exec(lab.host, ["nft", "list", "table", "inet", "nftfwd"]).stdout
        let dump = "/tmp/\(lab.net.prefix)-table.nft"
        try Command.check(["tee", dump], stdin: listing)
        defer { Command.sh("rm -f '\(dump)'") }
        let flipper = try #require(lab.net.background(lab.host, ["sh", "-c", "for i in $(seq 300); do nft delete table inet nftfwd; nft -f '\(dump)'; done"]))
        var reads = 0, missing = 0
        var failures: [String] = []
        let start = Command.monotonicSeconds()
        while Command.wait(pid: flipper, timeout: 0) == nil && Command.monotonicSeconds() - start < 60 {
            reads += 1
            do {
                let snapshot = try inNamespace(lab.host) { try Publisher().list() }
                if !snapshot.exists { missing += 1 } else if snapshot.mappings.map(\.mapping) != expected.mappings.map(\.mapping) || snapshot.masquerade != expected.masquerade {
                    failures.append("a read gave \(snapshot.mappings.map(\.mapping.label)) \(snapshot.masquerade)")
                }
            } catch {
                failures.append("\(error)")
            }
        }
        _ = Command.wait(pid: flipper, timeout: 60)
        #expect(failures.count == 0, "\(failures.count) of \(reads) reads failed, e.g. \(failures.prefix(3))")
        #expect(missing > 0 && missing < reads, "the reads did not run across the reloads (\(missing) of \(reads) saw no table)")
        print("reads racing reloads: \(reads) reads, \(missing) without the table, \(failures.count) failed")
    }
}

/// Seconds with two decimals.
func format2(_ x: Double) -> String {
    let hundredths = Int((x * 100).rounded())
    let frac = hundredths % 100
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
}
