import Synchronization
/// The statistics every listener reports into and `RelayEngine.stats()` reads: the only
/// state the loop thread shares with control threads, behind one lock.
final class StatsBoard: Sendable {
    private let entries = Mutex<[ListenerID: ListenerStats]>([:])

    func add(_ stats: ListenerStats) { entries.withLock { $0[stats.id] = stats } }
    func remove(_ id: ListenerID) { entries.withLock { $0[id] = nil } }

    func opened(_ id: ListenerID) {
        entries.withLock {
            $0[id]?.activeConnections += 1
            $0[id]?.totalConnections += 1
        }
    }

    /// Counts one more active connection if fewer than `limit` are active (a connection limit
    /// shared by several loops must be checked and counted in one step); false at the limit.
    func reserve(_ id: ListenerID, limit: Int) -> Bool {
        entries.withLock {
            guard let active = $0[id]?.activeConnections, active < limit else { return false }
            $0[id]?.activeConnections = active + 1
            return true
        }
    }

    /// A reservation became a connection.
    func openedReserved(_ id: ListenerID) { entries.withLock { $0[id]?.totalConnections += 1 } }

    /// A client the allow-list refused.
    func refused(_ id: ListenerID) { entries.withLock { $0[id]?.refusedSources += 1 } }

    func closed(_ id: ListenerID) { entries.withLock { $0[id]?.activeConnections -= 1 } }

    func failed(_ id: ListenerID, _ reason: String) { entries.withLock { $0[id]?.state = .error(reason) } }

    func listening(_ id: ListenerID) { entries.withLock { $0[id]?.state = .listening } }

    func activeConnections(_ id: ListenerID) -> Int? { entries.withLock { $0[id]?.activeConnections } }

    func snapshot() -> [ListenerStats] {
        entries.withLock { $0.values.sorted { $0.id.rawValue < $1.id.rawValue } }
    }
}
