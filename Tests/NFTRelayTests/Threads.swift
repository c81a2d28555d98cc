#if canImport(Glibc)
import Glibc
#endif

/// A joinable pthread running a closure: the tests need real blocking threads (a blocked
/// socket call must not tie up a Swift concurrency pool thread).
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { argument in
            let me = Unmanaged<TestThread>.fromOpaque(argument!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// A value set from one thread and read from another.
final class Shared<Value>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: Value
    init(_ value: Value) { self.value = value; pthread_mutex_init(&mutex, nil) }
    func get() -> Value { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return value }
    func set(_ newValue: Value) { pthread_mutex_lock(&mutex); value = newValue; pthread_mutex_unlock(&mutex) }
    func update<T>(_ body: (inout Value) -> T) -> T {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Polls `condition` every 5 ms for at most `timeout` seconds.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNow() + timeout
    while monotonicNow() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

/// Number of open fds of this process of the kinds a relay engine opens: epoll, eventfd and
/// signalfd descriptors, pipes, and IPv4/IPv6 sockets.
///
/// Not every fd: the kernel tests run in parallel with these (the NFTRelay suite is serialized
/// only within itself) and open temporary files, netlink and unix sockets in this process as
/// they go; none of those are counted, so a leak check stays exact.
func openFDCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    let own = dirfd(dir)
    var count = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name), fd != own else { continue }
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
        guard n > 0 else { continue }   // closed meanwhile
        let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if link.hasPrefix("anon_inode:[eventpoll]") || link.hasPrefix("anon_inode:[eventfd]")
            || link.hasPrefix("anon_inode:[signalfd]") || link.hasPrefix("pipe:") {
            count += 1
        } else if link.hasPrefix("socket:") {
            var domain: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0, domain == AF_INET || domain == AF_INET6 {
                count += 1
            }
        }
    }
    return count
}

/// FNV-1a 64-bit, to compare payloads without keeping both copies around.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h = FNV1a()
        bytes.withUnsafeBytes { h.add($0) }
        return h.value
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), seeded per test.
func randomPayload(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        bytes[i] = UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56)
    }
    return bytes
}
