#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds, the unit every deadline in the relay uses.
public enum MonotonicClock {
    @inlinable
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The same clock in seconds, for the daemon's deadlines and pauses (not the relay's).
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The same clock in whole milliseconds.
    public static func milliseconds() -> Int64 {
        Int64(now() / 1_000_000)
    }
}

extension Duration {
    /// This duration in whole nanoseconds, clamped to zero and above.
    @inlinable
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
