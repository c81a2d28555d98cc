#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// The tests' spawner (`Command.spawn`) hands a child only its standard streams and the
/// descriptors asked for: a copy of another test's socket in a long-lived child would keep that
/// connection open after its owner closed it.
@Suite("Test support: children inherit no stray descriptor")
struct SpawnTests {
    /// The descriptors a spawned `sleep` holds once it sleeps, read from here, then the child
    /// is ended. glibc's posix_spawn returns after the exec, but `sleep` itself opens files on
    /// its way to sleeping (the locale archive, briefly as fd 3: a loaded CI runner caught it
    /// there once), so the list is read only when the child is blocked in its sleep call.
    static func childDescriptors(extra: [Int32: Int32] = [:]) -> [Int] {
        guard let pid = Command.spawn(["sleep", "10"], extra: extra) else { return [-1] }
        defer { kill(pid, SIGKILL); _ = Command.wait(pid: pid, timeout: 5) }
        guard TestNetwork.waitUntil(timeout: 10, { isSleeping(pid) }) else { return [-3] }
        guard let dir = opendir("/proc/\(pid)/fd") else { return [-2] }
        defer { closedir(dir) }
        var fds: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int(name) { fds.append(fd) }
        }
        return fds.sorted()
    }

    /// Whether `pid` is blocked in nanosleep (35) or clock_nanosleep (230): the first field
    /// of /proc/PID/syscall while it waits in a system call.
    static func isSleeping(_ pid: Int32) -> Bool {
        guard let file = fopen("/proc/\(pid)/syscall", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 32)
        guard fgets(&line, 32, file) != nil else { return false }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ["35", "230"].contains(text.split(separator: " ").first.map(String.init) ?? "")
    }

    @Test("a descriptor opened without FD_CLOEXEC stays in the parent; one given as extra arrives")
    func onlyWhatIsGiven() throws {
        let stray = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)   // no SOCK_CLOEXEC, on purpose
        try #require(stray >= 0)
        defer { close(stray) }
        try #require(fcntl(stray, F_GETFD) & FD_CLOEXEC == 0)
        #expect(Self.childDescriptors() == [0, 1, 2])
        #expect(Self.childDescriptors(extra: [3: stray]) == [0, 1, 2, 3])
    }
}
