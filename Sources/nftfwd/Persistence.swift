#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import PortForwarding
import PublishedRelay
import SavedState

/// `--save`, which add, rm, apply, flush and restore take.
struct SaveOptions: ParsableArguments {
    @Flag(name: .long, help: ArgumentHelp("After the change, write the resulting state to the saved file (/etc/nftfwd/mappings.json, or NFTFWD_SAVE's path), as 'nftfwd save' does. NFTFWD_SAVE=1 saves every change without the flag."))
    var save = false

    /// NFTFWD_SAVE: unset, empty or 0: only with --save, to the default file; 1: always, to the
    /// default file; an absolute path: always, to that file.
    static var setting: String { getenv("NFTFWD_SAVE").map { String(cString: $0) } ?? "" }

    func validate() throws {
        if let problem = Self.settingProblem { throw ValidationError(problem) }
    }

    /// What is wrong with NFTFWD_SAVE, or nil.
    static var settingProblem: String? {
        let setting = Self.setting
        if !["", "0", "1"].contains(setting) && !setting.hasPrefix("/") {
            return "NFTFWD_SAVE=\(setting): use 1 (save every change to the default file, /etc/nftfwd/mappings.json), an absolute file path, or 0"
        }
        return nil
    }

    /// Where to write the state after a successful change, or nil for nowhere.
    func destination(table: String) -> String? { Self.destination(table: table, save: save) }

    static func destination(table: String, save: Bool) -> String? {
        switch Self.setting {
        case "", "0": return save ? StateFile.defaultPath(table: table) : nil
        case "1": return StateFile.defaultPath(table: table)
        case let path: return path
        }
    }
}

/// A change was refused, or made but not saved.
enum PersistenceError: Error, CustomStringConvertible {
    /// A relay keeps the table equal to its file and would undo the change (exit 1, nothing changed).
    case wouldBeUndone(String)
    /// Something holds the relay's status socket but gave no answer, so whether a relay would
    /// undo the change is unknown (exit 2, nothing changed).
    case relayUnknown(String)
    /// The kernel has the change, the file does not (exit 2).
    case notSaved(String)
    /// Another nftfwd held the saved file's lock too long (exit 2).
    case lockBusy(String)

    var description: String {
        switch self {
        case .wouldBeUndone(let s), .relayUnknown(let s), .notSaved(let s), .lockBusy(let s): return s
        }
    }
}

/// Changes of the table that honour `--save`, and the saved file's text.
enum Persistence {
    /// Runs `body` (one change through the publisher), then, when saving, writes the resulting
    /// state. The saved file's lock (`StateLock`) is held from before the change until the file is
    /// written, so `nftfwd relay --restore-from` never sees the change without the file, and
    /// concurrent `--save` writers save in the order they changed the table.
    /// `restoring` is the file a `restore` applies: restoring the relay's own file needs no --save.
    static func change<T>(_ global: GlobalOptions, _ options: SaveOptions, restoring: String? = nil,
                          _ body: (Publisher) throws -> T) throws -> T {
        try change(table: global.table, verbose: global.verbose, save: options.save, restoring: restoring, body)
    }

    /// `change` on plain values (QuickAdd's `add` creates no option group).
    static func change<T>(table: String, verbose: Bool, save: Bool, restoring: String? = nil,
                          _ body: (Publisher) throws -> T) throws -> T {
        let destination = SaveOptions.destination(table: table, save: save)
        let publisher = try GlobalOptions.publisher(table: table, verbose: verbose)
        func note(_ text: String) { GlobalOptions.note(text, verbose: verbose) }
        // A caller nftables refuses hears that first, not what asking the relay gives it (only
        // root may ask): one GETGEN round trip.
        _ = try publisher.generation()
        let restorer = try refuseIfUndone(table: table, saving: destination, restoring: restoring)
        let lock = try destination.map { try Persistence.lock(of: $0) }
        if let restorer, let destination { try catchUp(publisher, table: table, to: destination, restorer: restorer) }
        let result = try body(publisher)
        if let destination {
            do {
                let count = try Persistence.save(publisher, to: destination)
                note("saved \(count) mapping(s) to \(destination)")
            } catch let error as StateFileError where error.replaced {
                // The file holds the change (not durably yet): a relay restoring from it keeps it.
                throw PersistenceError.notSaved("the change is made in the kernel, but \(error)")
            } catch {
                if let restorer { throw rollBack(publisher, table: table, to: destination, restorer: restorer, because: error) }
                throw PersistenceError.notSaved("the change is made in the kernel, but \(error); 'nftfwd save \(destination)' saves it once that is fixed")
            }
        }
        withExtendedLifetime(lock) {}
        return result
    }

    /// `restorer` keeps the table equal to `file`, but the table may have lost that state a
    /// moment ago (a firewall reload, `nft flush ruleset`) and the relay not have put it back
    /// yet (it polls every 200 ms). A change made on that table would be saved as the whole
    /// state: FILE would then hold only what the change left, and the relay would enforce that,
    /// every other mapping lost for good. So FILE's state is put back first, as the relay was
    /// about to, under the lock the change already holds. (A table changed outside nftfwd so
    /// that it cannot be read is reported, exit 2, as without a relay: the CLI never replaces it.)
    static func catchUp(_ publisher: Publisher, table: String, to file: String, restorer: RelayStatus) throws {
        let desired = try StateDocument.parse(try StateFile.read(file))
        let snapshot = try publisher.list()
        let difference = StateDifference(desired, snapshot)
        guard !difference.isEmpty else { return }
        let before = snapshot.exists ? difference.summary : "the table was missing"
        _ = try publisher.apply(desired)
        Console.error("nftfwd: the relay (pid \(restorer.pid)) keeps table inet \(table) equal to \(file), and it differed (\(before)): put \(file)'s state back before the change, as the relay would have")
    }

    /// The change is in the kernel but `destination` still holds the state before it, and
    /// `restorer` keeps the table equal to that file: once the lock is let go it would put the
    /// file's state back within a second anyway. Doing it here, still under the lock, makes
    /// the outcome certain when the command returns (nothing changed) instead of a change that
    /// lives for a poll or two. Applies what the relay would apply: the file, with `restore`.
    static func rollBack(_ publisher: Publisher, table: String, to destination: String, restorer: RelayStatus, because error: any Error) -> PersistenceError {
        let relay = "the relay (pid \(restorer.pid)) keeps table inet \(table) equal to \(destination)"
        do {
            let previous = try StateDocument.parse(try StateFile.read(destination))
            _ = try publisher.restore(previous)
        } catch let failure {
            return .notSaved("the change is made in the kernel, but \(error); \(relay), which still holds the previous state, so it will undo the change within a second (rolling it back here failed: \(failure))")
        }
        return .notSaved("\(error); \(relay), which still holds the previous state, so the change was rolled back: nothing changed")
    }

    /// Writes the table's state to `path` (atomically; see `StateFile.write`). Returns the number
    /// of mappings saved. The caller holds the file's lock.
    @discardableResult
    static func save(_ publisher: Publisher, to path: String) throws -> Int {
        let snapshot = try publisher.list()
        try StateFile.write(document(snapshot), to: path)
        return snapshot.mappings.count
    }

    /// The saved file's text: what `ls --json` prints, without the relay's view (it describes a
    /// running process, not the desired state), and read back by `apply` and `restore`.
    static func document(_ snapshot: TableSnapshot) -> String {
        MappingFile.render(snapshot)
    }

    /// The lock of the saved file `path` (`StateLock`; its directory is created when missing,
    /// so the lock is named after the resolved path), waiting up to 10 s.
    static func lock(of path: String) throws -> RuntimeLock {
        try StateFile.createDirectory(for: path)
        guard let lock = try StateLock.acquire(for: path, timeout: 10) else {
            throw PersistenceError.lockBusy("another nftfwd has held the lock of \(path) (\(StateLock.lockPath(for: path))) for 10 s; nothing changed")
        }
        return lock
    }

    /// A relay started with --restore-from keeps the table equal to its file: a change that
    /// does not go into that file would be undone within a second, so it is refused. So is
    /// every change when the relay's status socket is held but gives no proper answer: that may
    /// be such a relay, stuck or overloaded, and a change it undoes later would be lost
    /// silently. Only "nobody holds the socket" (or a holder that is not root, reported in a warning)
    /// means no relay.
    /// Returns the relay when it restores from `destination`, the file this change saves to.
    @discardableResult
    static func refuseIfUndone(table: String, saving destination: String?, restoring: String?) throws -> RelayStatus? {
        let relay: RelayStatus
        switch StatusChannel.ask(table: table) {
        case .noRelay: return nil
        case .notTrusted(let uid, let pid):
            // No relay root started holds the name; the holder is reported, never obeyed.
            Console.error("nftfwd: warning: " + StatusChannel.untrusted(table: table, uid: uid, pid: pid))
            return nil
        case .status(let status): relay = status
        case .noAnswer(let why):
            throw PersistenceError.relayUnknown(
                "cannot tell whether a relay restores table inet \(table) from a file and would undo this change: \(why); nothing changed. Check the relay ('systemctl status nftfwd-relay', or its log) and try again, or stop it")
        }
        guard let enforced = relay.restoreFrom else { return nil }
        if let destination, StateFile.canonical(destination) == enforced { return relay }
        if let restoring, restoring != "-", StateFile.canonical(restoring) == enforced { return nil }
        let how = StateFile.canonical(StateFile.defaultPath(table: table)) == enforced
            ? "add --save" : "run it with NFTFWD_SAVE=\(enforced)"
        throw PersistenceError.wouldBeUndone(
            "the relay (pid \(relay.pid)) keeps table inet \(table) equal to \(enforced) and would undo this change: \(how) to change that file too; nothing changed")
    }
}
