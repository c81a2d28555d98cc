import SystemCalls
import SystemErrno

/// The thread a small server (status, metrics, takeover) runs its poll loop on: `body` runs
/// on a thread of its own (SystemCalls' `Threads.spawn`), holding what it captures until it
/// returns; the caller joins it. Here only for the daemon's error type.
enum ServerThread {
    static func start(_ body: @escaping () -> Void) throws(RelayDaemonError) -> SpawnedThread {
        do {
            return try Threads.spawn(body)
        } catch {
            throw .system(error.function, error.errno)
        }
    }
}
