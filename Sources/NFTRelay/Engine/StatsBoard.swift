import Synchronization
/// The statistics every listener reports into and `RelayEngine.stats()` reads: the only
/// state the loop thread shares with control threads, behind one lock.
final class StatsBoard: Sendable {
    private let entries = Mutex<[ListenerID: ListenerStats]>([:])

    func add(_ stats: ListenerStats) { entries.withLock { $0[stats.id] = stats } }
    func remove(_ id: ListenerID) { entries.withLock { $0[id] = nil } }

    /// Changes one listener's entry in place. Not `$0[id]?.field += 1`: the dictionary's
    /// optional subscript moves the whole entry (its `ListenerSpec` with every array in it)
    /// out and back in, which was ~1,400 instructions per count and a fifth of a short
    /// connection's user-space instructions (callgrind); the values' subscript does not.
    private static func update<T>(_ entries: inout [ListenerID: ListenerStats], _ id: ListenerID,
                                  _ body: (inout ListenerStats) -> T) -> T? {
        guard let index = entries.index(forKey: id) else { return nil }
        return body(&entries.values[index])
    }

    func opened(_ id: ListenerID) {
        entries.withLock {
            Self.update(&$0, id) {
                $0.activeConnections += 1
                $0.totalConnections += 1
            }
        }
    }

    /// Counts one more active connection if fewer than `limit` are active (a connection limit
    /// shared by several loops must be checked and counted in one step); false at the limit.
    func reserve(_ id: ListenerID, limit: Int) -> Bool {
        entries.withLock {
            Self.update(&$0, id) { (stats) -> Bool in
                guard stats.activeConnections < limit else { return false }
                stats.activeConnections += 1
                return true
            } ?? false
        }
    }

    /// A reservation became a connection.
    func openedReserved(_ id: ListenerID) { entries.withLock { Self.update(&$0, id) { $0.totalConnections += 1 } } }

    /// A client the allow-list refused.
    func refused(_ id: ListenerID) { entries.withLock { Self.update(&$0, id) { $0.refusedSources += 1 } } }

    func closed(_ id: ListenerID) { entries.withLock { Self.update(&$0, id) { $0.activeConnections -= 1 } } }

    func failed(_ id: ListenerID, _ reason: String) { entries.withLock { Self.update(&$0, id) { $0.state = .error(reason) } } }

    func listening(_ id: ListenerID) { entries.withLock { Self.update(&$0, id) { $0.state = .listening } } }

    func activeConnections(_ id: ListenerID) -> Int? { entries.withLock { Self.update(&$0, id) { $0.activeConnections } } }

    func snapshot() -> [ListenerStats] {
        entries.withLock { $0.values.sorted { $0.id.rawValue < $1.id.rawValue } }
    }
}
