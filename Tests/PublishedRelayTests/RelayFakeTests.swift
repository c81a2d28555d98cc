import Logging
import Testing
import NFTables
import NFTablesFake
import NFTRelay
import SavedState
import TestSupport
@testable import PortForwarding
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// The relay's decisions against the in-memory kernel: which listeners to keep when the table
/// moves or cannot be read, and when `--restore-from` stops repeating a restore that did not
/// take. Listeners are real (loopback ports); the kernel is the fake.
@Suite("The relay on the in-memory kernel")
struct RelayFakeTests {
    static func logger(_ lines: LockedLines) -> Logger {
        var logger = Logger(label: "nftfwd relay") { RelayLogHandler(label: $0, journal: false, write: { lines.append($0) }) }
        logger.logLevel = .info
        return logger
    }

    /// A loopback TCP port nothing listens on right now (bound, then released).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(rc, "bind 127.0.0.1:0: errno \(errno)")
        return UInt16(bigEndian: addr.sin_port)
    }

    @Test("reconciliation: follow the table, keep the listeners while it cannot be read or moved past the checked generation")
    func reconciliation() throws {
        let fake = NFTablesFake()
        let publisher = try Publisher(session: fake)
        let mapping = try Mapping.parse(host: "127.0.0.1:\(try RelayFakeTests.freePort())", target: "10.0.0.2:80")
        _ = try publisher.add(mapping)
        let lines = LockedLines()
        let daemon = try RelayDaemon(table: "nftfwd", logger: RelayFakeTests.logger(lines), session: { fake })
        let engine = try RelayEngine(loops: 1)
        try engine.start()
        defer { engine.stop() }
        func states() -> [RelayPortState] { RelayDaemon.status(state: daemon.state, engine: engine, table: "nftfwd").ports.map(\.state) }

        #expect(daemon.reload(session: fake, engine: engine, expecting: nil) == .followed(claimed: nil))
        #expect(states() == ["listening"])
        #expect(engine.stats().count == 1)

        // Removed, but read at another generation than the one the restorer checked: the
        // plan holds (the table may be between two states being put right).
        let checked = try fake.generation()
        _ = try publisher.remove(host: mapping.host, proto: .tcp)
        #expect(daemon.reload(session: fake, engine: engine, expecting: checked) == .moved)
        #expect(states() == ["listening"])

        // A table that cannot be read says nothing reliable: keep serving, report the problem.
        fake.tamper { $0.tables[0].chains.append(ChainSpec(name: "theirs")) }
        #expect(daemon.reload(session: fake, engine: engine, expecting: nil) == .failed)
        #expect(states() == ["listening"])
        let problem = RelayDaemon.status(state: daemon.state, engine: engine, table: "nftfwd").problem
        #expect(problem?.contains("chain 'theirs' nftfwd does not create") == true)

        // Readable again: the removed mapping's listener goes.
        fake.tamper { $0.tables[0].chains.removeLast() }
        #expect(daemon.reload(session: fake, engine: engine, expecting: nil) == .followed(claimed: nil))
        #expect(states().isEmpty)
        #expect(RelayDaemon.status(state: daemon.state, engine: engine, table: "nftfwd").problem == nil)
        #expect(lines.all.contains { $0.contains("stopped") })
    }

    @Test("a port taken by someone else is reported, and served once it is free again")
    func busyPortRetried() throws {
        let fake = NFTablesFake()
        let port = try RelayFakeTests.freePort()
        _ = try Publisher(session: fake).add(try Mapping.parse(host: "127.0.0.1:\(port)", target: "10.0.0.2:80"))
        let daemon = try RelayDaemon(table: "nftfwd", logger: RelayFakeTests.logger(LockedLines()), session: { fake })
        let engine = try RelayEngine(loops: 1)
        try engine.start()
        defer { engine.stop() }
        let squatter = ListenerSpec(proto: .tcp, listen: try #require(SocketAddress(parsing: "127.0.0.1:\(port)")),
                                    target: try #require(SocketAddress(parsing: "10.0.0.2:80")))
        let other = try RelayEngine(loops: 1)
        try other.start()
        let held = try other.addListener(squatter)
        #expect(daemon.reload(session: fake, engine: engine, expecting: nil) == .followed(claimed: nil))
        let state = try #require(RelayDaemon.status(state: daemon.state, engine: engine, table: "nftfwd").ports.first?.state)
        guard case .failed(let reason) = state else { Issue.record("\(state) is no failure"); return }
        #expect(reason.contains("in use"))
        other.removeListener(held)
        other.stop()
        // The other engine's loop closes its socket on its own time: retry as the daemon does
        // (every second there), until served or 5 s passed.
        var states: [RelayPortState] = []
        for _ in 0..<500 {
            daemon.reconcile(engine: engine)
            states = RelayDaemon.status(state: daemon.state, engine: engine, table: "nftfwd").ports.map(\.state)
            if states == [.listening] { break }
            usleep(10_000)
        }
        #expect(states == [.listening])
    }
}

/// Root only: FILE's lock lives in a directory only root may own (`RuntimeDirectory`).
@Suite("--restore-from on the in-memory kernel", .enabled(if: geteuid() == 0, "needs root (the lock directory must be root's)"))
struct RestorerFakeTests {
    @Test("a restore that did not take is not repeated at every poll: paused until FILE changes, the pause ends or SIGHUP")
    func pause() throws {
        let dir = try Command.check(["mktemp", "-d", "/tmp/nftfwd-restore-XXXXXX"]).stdout.split(separator: "\n")[0].description
        defer { Command.run(["rm", "-rf", dir]) }
        let mapping = try Mapping.parse(host: "8080", target: "10.0.0.2:80")
        let source = NFTablesFake()
        let sourcePublisher = try Publisher(session: source)
        _ = try sourcePublisher.add(mapping)
        let file = dir + "/state.json"
        try StateFile.write(MappingFile.render(try sourcePublisher.list()), to: file)

        let fake = NFTablesFake()
        let lines = LockedLines()
        let restorer = try TableRestorer(path: file, table: "nftfwd", logger: RelayFakeTests.logger(lines),
                                         session: { fake }, lockDirectory: dir + "/run")
        #expect(restorer.enforce() == .restored, "no table: FILE applied")
        #expect(restorer.enforce() == .inSync)
        #expect(restorer.verifiedGeneration == (try fake.generation()))

        // A kernel that lists back something else than it took: each restore seems not to take.
        fake.afterCommit = { f in f.tamper(movingGeneration: false) { rs in for t in rs.tables.indices { for s in rs.tables[t].sets.indices { rs.tables[t].sets[s].elements = [] } } } }
        fake.tamper { $0.tables.removeAll() }
        guard case .retry(let after) = restorer.enforce() else { Issue.record("not paused"); return }
        #expect(after == TableRestorer.pauseSeconds)
        #expect(lines.all.contains { $0.contains("but it still differs (1 missing)") })
        let commits = fake.commits
        for _ in 0..<3 {
            guard case .retry = restorer.enforce() else { Issue.record("the pause ended early"); return }
        }
        #expect(fake.commits == commits, "paused: no restore tried")
        restorer.resume()
        _ = restorer.enforce()
        #expect(fake.commits == commits + 1, "SIGHUP: tried again at once")
    }
}
