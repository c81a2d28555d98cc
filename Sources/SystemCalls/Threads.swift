#if canImport(Glibc)
import Glibc
#endif

/// A thread started by `Threads.spawn`, to be joined once.
public struct SpawnedThread: @unchecked Sendable {
    // pthread_t is a plain integer on Linux; the handle is only joined, never shared state.
    @usableFromInline let handle: pthread_t

    /// Waits for the thread's body to return. `pthread_join(3)`
    public func join() { pthread_join(handle, nil) }
}

/// The one thread spawner: `body` runs on a pthread of its own, holding what it captures
/// until it returns. One place for the C call and its retain/release, since pthread_create
/// takes a C function pointer and no Swift closure.
public enum Threads {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    public static func spawn(_ body: @escaping () -> Void) throws(SyscallError) -> SpawnedThread {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SyscallError("pthread_create", Errno(rawValue: rc))
        }
        return SpawnedThread(handle: thread)
    }
}
