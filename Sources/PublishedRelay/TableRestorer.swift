#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Logging
import NFTables
import PortForwarding
import SavedState

/// `nftfwd relay --restore-from FILE`: keeps the table equal to FILE, the desired state.
///
/// The daemon asks it to check whenever the ruleset generation moves, FILE is replaced, or on
/// SIGHUP: if the table is missing (`nft flush ruleset`, a firewall reload), differs from FILE,
/// or was changed outside nftfwd so that it cannot be read back, FILE is applied in one batch
/// (a table nftfwd cannot read is deleted and created again in that batch) and one line says
/// what was restored (at notice level: a repair is worth seeing, but nothing failed).
///
/// Because FILE is the desired state, a change that should last is made with `--save`, which
/// takes FILE's lock (`StateLock`) across its commit and its write: while the lock is held,
/// the restorer leaves everything as it is and looks again at the next poll, so it never sees
/// the kernel already changed and the file not yet. (`nftfwd add/rm/apply/flush` without
/// `--save` are refused while such a relay runs, since the relay would undo them.) Waiting
/// for the lock is logged (info) when it starts and when it ends.
///
/// Concurrency model: used on the daemon's run thread only (its publisher owns a netlink socket).
final class TableRestorer {
    /// FILE, absolute and with its directory resolved, as reported in the relay's status.
    let path: String
    private let table: String
    private let logger: Logger
    /// Made at the first check (internal: tests replace its conntrack cleaner).
    private(set) var publisher: Publisher?
    private var lastProblem: String?
    private var stamp: FileStamp?
    /// Set when a restore did not bring the table to FILE's state (read back right after it):
    /// FILE as it was then, and when to try again. Until then, or until FILE changes, no
    /// restore is tried, so a table the kernel keeps reporting otherwise than we write it is not
    /// deleted and recreated at every poll; a later try still repairs a table that was only
    /// changed again in between.
    private var pause: (file: FileStamp?, until: Double)?
    /// When the restorer first found FILE's lock held, while it still is (logged once).
    private var waitingSince: Double?
    /// The generation at which the last `enforce` that returned `.inSync` or `.restored` read
    /// the table equal to FILE (nil: unknown), so the daemon can tell whether the table it then
    /// reads for its plan is still that one.
    private(set) var verifiedGeneration: UInt32?
    static let pauseSeconds = 10.0
    /// The kernel FILE is applied to: nil for this namespace's (with conntrack cleanup).
    private let makeSession: (() throws -> any NFTablesSession)?
    private let lockDirectory: String

    enum Outcome: Equatable {
        case inSync
        case restored
        /// A `--save` change holds the lock: look again at the next poll. The table may be
        /// between two states that change is putting right (deleted a moment ago, and being
        /// given FILE's state back with the change), so it is no plan to serve yet.
        case busy
        /// Look again after this many seconds.
        case retry(after: Double)
    }

    /// Fails (nothing started) when FILE cannot be read or is not a valid state file: a typo in
    /// the path must not quietly turn the repair off.
    /// `session` opens the kernel FILE is applied to; `lockDirectory` holds FILE's lock
    /// (tests: a directory of their own).
    init(path: String, table: String, logger: Logger, session: (() throws -> any NFTablesSession)? = nil,
         lockDirectory: String = RuntimeDirectory.path) throws {
        self.makeSession = session
        self.lockDirectory = lockDirectory
        self.path = StateFile.canonical(path)
        self.table = table
        self.logger = logger
        _ = try StateDocument.parse(try StateFile.read(self.path))
    }

    /// Lifts a pause after a restore that did not take (SIGHUP: the operator asks for a try now).
    func resume() { pause = nil }

    /// True when FILE was replaced or rewritten since the last call (one stat).
    func fileChanged() -> Bool {
        let now = FileStamp(path)
        defer { stamp = now }
        return now != stamp
    }

    /// Compares the table with FILE and applies FILE if they differ.
    func enforce() -> Outcome {
        if let pause {
            if FileStamp(path) == pause.file && TableRestorer.now() < pause.until { return .retry(after: pause.until - TableRestorer.now()) }
            self.pause = nil
        }
        let lock: RuntimeLock?
        do { lock = try StateLock.acquire(for: path, timeout: nil, directory: lockDirectory) } catch { return failed("\(error)") }
        guard let lock else {
            // A --save change is under way: said once, not at every poll while it lasts.
            if waitingSince == nil {
                waitingSince = TableRestorer.now()
                logger.info("waiting for the lock of \(path) (\(StateLock.lockPath(for: path, directory: lockDirectory))): a saving change holds it; the table is checked once it is free")
            }
            return .busy
        }
        if let since = waitingSince {
            waitingSince = nil
            logger.info("got the lock of \(path) after \(Int((TableRestorer.now() - since) * 1000)) ms; checking the table")
        }
        return withExtendedLifetime(lock) { enforceLocked() }
    }

    private func enforceLocked() -> Outcome {
        do {
            let desired = try StateDocument.parse(try StateFile.read(path))
            let publisher = try self.publisher ?? makePublisher()
            self.publisher = publisher
            let before: String
            do {
                let snapshot = try publisher.list()
                let difference = StateDifference(desired, snapshot)
                if difference.isEmpty {
                    lastProblem = nil
                    verifiedGeneration = snapshot.generation
                    return .inSync
                }
                before = snapshot.exists ? difference.summary : "the table was missing"
            } catch PublishError.foreignTable(let foreign) {
                before = "changed outside nftfwd: \(foreign.problem)"
            }
            var what: String
            switch try publisher.restore(desired) {
            case .applied(let s):
                what = "\(s.added) added, \(s.removed) removed, \(s.unchanged) unchanged"
                if s.masqueradeAdded + s.masqueradeRemoved > 0 {
                    what += "; masquerade: \(s.masqueradeAdded) added, \(s.masqueradeRemoved) removed"
                }
            case .replaced(_, let count):
                what = "table deleted and created again with \(count) mapping(s)"
            }
            // Read back what the kernel now holds: a restore that did not take must not repeat.
            // Only a read at the generation our batch made says so; if anyone changed the
            // ruleset since, the daemon sees the generation move and checks again anyway.
            var still: String?
            var readAt: UInt32?
            do {
                let after = try publisher.list()
                readAt = after.generation
                if !StateDifference(desired, after).isEmpty { still = StateDifference(desired, after).summary }
            } catch PublishError.foreignTable(let foreign) {
                readAt = try? publisher.generation()
                still = "changed outside nftfwd: \(foreign.problem)"
            } catch {
                readAt = nil   // unknown: the next poll looks again
            }
            if let still, readAt != nil, readAt == publisher.lastCommittedGeneration {
                pause = (FileStamp(path), TableRestorer.now() + TableRestorer.pauseSeconds)
                logger.error("restored table inet \(table) from \(path) (\(before)): \(what), but it still differs (\(still)); trying again in \(Int(TableRestorer.pauseSeconds)) s, when \(path) changes, or on SIGHUP")
                return .retry(after: TableRestorer.pauseSeconds)
            }
            lastProblem = nil
            verifiedGeneration = still == nil ? readAt : nil
            logger.notice("restored table inet \(table) from \(path) (\(before)): \(what)")
            return .restored
        } catch {
            return failed("\(error)")
        }
    }

    static func now() -> Double { MonotonicClock.seconds() }

    /// The publisher that applies FILE. What fails after one of its commits (the conntrack
    /// cleanup) is a warning in the relay's log, as the CLI prints it on stderr.
    private func makePublisher() throws -> Publisher {
        let publisher = try makeSession.map { try Publisher(tableName: table, session: $0()) } ?? Publisher(tableName: table)
        publisher.warn = { [logger, table, path] warning in
            logger.warning("restoring table inet \(table) from \(path): \(warning)")
        }
        return publisher
    }

    /// Logs a problem once (until it changes or clears) and asks to be called again in a second.
    private func failed(_ problem: String) -> Outcome {
        if problem != lastProblem {
            logger.warning("cannot restore table inet \(table) from \(path): \(problem); trying again every second")
            lastProblem = problem
        }
        return .retry(after: 1)
    }
}
