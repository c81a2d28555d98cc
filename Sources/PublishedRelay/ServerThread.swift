#if canImport(Glibc)
import Glibc
#endif
import SystemErrno

/// The thread a small server (status, metrics, takeover) runs its poll loop on: `body` runs
/// on a pthread of its own, holding what it captures until it returns; the caller joins it.
/// One place for the C call and its retain/release, since pthread_create takes a C function.
enum ServerThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping () -> Void) throws(RelayDaemonError) -> pthread_t {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw .system("pthread_create", Errno(rc))
        }
        return thread
    }
}
