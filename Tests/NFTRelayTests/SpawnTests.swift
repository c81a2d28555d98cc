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
    /// The descriptors a spawned `sleep` holds (glibc's posix_spawn returns after the exec, so
    /// what /proc lists is what the program got), read from here, then the child is ended.
    static func childDescriptors(extra: [Int32: Int32] = [:]) -> [Int] {
        guard let pid = Command.spawn(["sleep", "10"], extra: extra) else { return [-1] }
        defer { kill(pid, SIGKILL); _ = Command.wait(pid: pid, timeout: 5) }
        guard let dir = opendir("/proc/\(pid)/fd") else { return [-2] }
        defer { closedir(dir) }
        var fds: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int(name) { fds.append(fd) }
        }
        return fds.sorted()
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
