#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// True when the tests run as root, which the kernel tests need (namespaces, nftables).
public var runningAsRoot: Bool { geteuid() == 0 }

/// True when CI=true is set: there, tests that need root must run, never skip.
public var runningInCI: Bool { getenv("CI").map { String(cString: $0) == "true" } ?? false }

/// A set of network namespaces created for one test, with names unique to this process and test,
/// removed by `destroy()` (call it in a `defer`, so it runs when the test fails too).
public final class TestNetwork: @unchecked Sendable {
    public let prefix: String
    private(set) public var namespaces: [String] = []
    private var pids: [pid_t] = []

    private static let counter = Mutex(0)

    public init(_ label: String) {
        // The orphan sweep reads the pid as the digits after "nft" and expects a lowercase letter
        // next: a label starting with a digit would make another live process's namespaces look
        // like orphans of a dead pid.
        precondition(label.first.map { $0.isASCII && $0.isLowercase } == true, "TestNetwork label must start with a lowercase letter: \(label)")
        let n = Self.counter.withLock { $0 += 1; return $0 }
        if n == 1 { Self.removeOrphans() }
        prefix = "nft\(getpid() % 100000)\(label.prefix(4))\(n)"
    }

    /// A test process killed mid-test (a timeout's SIGKILL) runs no `defer`, so its namespaces
    /// stay. The first network of each test process removes those of the shape ours have,
    /// `nft<pid % 100000><label>...`, whose pid matches no live process (conservatively: no
    /// live pid with the same remainder), with their relay files.
    private static func removeOrphans() {
        var live = Set<Int>()
        if let proc = opendir("/proc") {
            while let entry = readdir(proc) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let pid = Int(name) { live.insert(pid % 100000) }
            }
            closedir(proc)
        }
        guard !live.isEmpty, let dir = opendir("/run/netns") else { return }
        var orphans: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("nft") else { continue }
            let rest = name.dropFirst(3)
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let pid = Int(digits), rest.dropFirst(digits.count).first?.isLowercase == true,
                  name.contains("-"), !live.contains(pid) else { continue }
            orphans.append(name)
        }
        closedir(dir)
        let sweeper = TestNetwork(orphansOf: orphans)
        sweeper.destroy()
    }

    private init(orphansOf names: [String]) {
        prefix = "orphans"
        namespaces = names
    }

    /// Creates namespace `<prefix>-<role>` with loopback up and returns its name.
    @discardableResult
    public func add(_ role: String) throws -> String {
        let name = "\(prefix)-\(role)"
        try Command.check(["ip", "netns", "add", name])
        namespaces.append(name)
        try exec(name, ["ip", "link", "set", "lo", "up"])
        return name
    }

    /// Runs argv inside namespace `ns`.
    @discardableResult
    public func run(_ ns: String, _ argv: [String], stdin: String? = nil, timeout: Double = 120) -> CommandResult {
        Command.run(["ip", "netns", "exec", ns] + argv, stdin: stdin, timeout: timeout)
    }

    /// Like `run`, throwing unless it exits 0.
    @discardableResult
    public func exec(_ ns: String, _ argv: [String], stdin: String? = nil, timeout: Double = 120) throws -> CommandResult {
        try Command.check(["ip", "netns", "exec", ns] + argv, stdin: stdin, timeout: timeout)
    }

    /// Runs a bash snippet inside `ns`, throwing unless it exits 0.
    @discardableResult
    public func sh(_ ns: String, _ script: String, timeout: Double = 120) throws -> CommandResult {
        try exec(ns, ["/bin/bash", "-c", script], timeout: timeout)
    }

    /// Starts a background process inside `ns`; it is killed by `destroy()`.
    @discardableResult
    public func background(_ ns: String, _ argv: [String], log: String = "/dev/null") -> pid_t? {
        guard let pid = Command.start(["ip", "netns", "exec", ns] + argv, logPath: log) else { return nil }
        pids.append(pid)
        return pid
    }

    /// Connects two namespaces with a veth pair: `aIf` in `a`, `bIf` in `b`, both up, with the
    /// given addresses (CIDR, IPv4 or IPv6; several allowed).
    public func link(_ a: String, _ aIf: String, _ aAddrs: [String], _ b: String, _ bIf: String, _ bAddrs: [String]) throws {
        let tmpA = "v\(abs(prefix.hashValue) % 100000)a\(namespaces.count)\(aIf.count)"
        let tmpB = "v\(abs(prefix.hashValue) % 100000)b\(namespaces.count)\(bIf.count)"
        try Command.check(["ip", "link", "add", tmpA, "netns", a, "type", "veth", "peer", "name", tmpB, "netns", b])
        try exec(a, ["ip", "link", "set", tmpA, "name", aIf])
        try exec(b, ["ip", "link", "set", tmpB, "name", bIf])
        for (ns, ifname, addrs) in [(a, aIf, aAddrs), (b, bIf, bAddrs)] {
            for addr in addrs {
                let v6 = addr.contains(":")
                try exec(ns, ["ip"] + (v6 ? ["-6"] : []) + ["addr", "add", addr, "dev", ifname] + (v6 ? ["nodad"] : []))
            }
            try exec(ns, ["ip", "link", "set", ifname, "up"])
        }
    }

    /// Waits until `condition` holds, polling every 10 ms, for at most `timeout` seconds.
    public static func waitUntil(timeout: Double = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Command.monotonicSeconds() + timeout
        while Command.monotonicSeconds() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Kills background processes and deletes every namespace this network created.
    public func destroy() {
        for pid in pids { kill(pid, SIGKILL); _ = Command.wait(pid: pid, timeout: 5) }
        pids.removeAll()
        for ns in namespaces.reversed() {
            // Processes started with `ip netns exec` outside our pid list (e.g. by a shell) go too.
            Command.run(["/bin/bash", "-c", "ip netns pids \(ns) 2>/dev/null | xargs -r kill -9"])
            removeRelayFiles(of: ns)
            Command.run(["ip", "netns", "del", ns])
        }
        namespaces.removeAll()
        removeSavedFileLocks()
        removeTemporaryFiles()
    }

    /// What this network's tests wrote under /tmp is named `/tmp/PREFIX-...` (relay and load
    /// logs, saved files, ready markers): it goes with the network, so a run leaves nothing
    /// behind. A failing test has already put the logs it needs in its failure message;
    /// NFTFWD_KEEP_TEST_FILES=1 keeps them for a closer look.
    private func removeTemporaryFiles() {
        if let keep = getenv("NFTFWD_KEEP_TEST_FILES"), String(cString: keep) == "1" { return }
        let mine = prefix + "-"
        guard prefix.hasPrefix("nft"), let dir = opendir("/tmp") else { return }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(mine) { names.append(name) }
        }
        closedir(dir)
        // Directories too (a test's scratch folder): rm -rf, never following a link out of /tmp.
        for name in names { Command.run(["rm", "-rf", "--one-file-system", "--", "/tmp/" + name]) }
    }

    /// The locks of saved files this network's tests wrote under /tmp/PREFIX-... (`saved-` and
    /// the path systemd-escaped, its "-" as `\x2d`: `saved-tmp-PREFIX\x2d...lock`) are in
    /// the host's /run/nftfwd too, and no nftfwd removes a lock file (another process may hold
    /// it); ours are held by nobody once the network's processes are gone.
    private func removeSavedFileLocks() {
        let mine = "saved-tmp-" + prefix + "\\x2d"
        guard let dir = opendir("/run/nftfwd") else { return }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(mine) && name.hasSuffix(".lock") { names.append(name) }
        }
        for name in names { unlink("/run/nftfwd/" + name) }
    }

    deinit { destroy() }

    /// A relay killed above (SIGKILL) leaves its status socket and lock in /run/nftfwd (and
    /// apply and add their records, `apply-` and `layout-<dev>-<ino>-<table>.record`), which
    /// `ip netns exec` shares with the host: they are named `relay-<dev>-<ino>-<table>.*` after
    /// the namespace, so the ones of a namespace this network made are removed with it.
    private func removeRelayFiles(of ns: String) {
        var st = stat()
        guard stat("/run/netns/\(ns)", &st) == 0 else { return }
        let key = "-\(st.st_dev)-\(st.st_ino)-"
        let prefixes = ["relay", "apply", "layout"].map { $0 + key }
        guard let dir = opendir("/run/nftfwd") else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if prefixes.contains(where: { name.hasPrefix($0) }) { unlink("/run/nftfwd/" + name) }
        }
    }
}

import CLinux

/// Runs `body` on a fresh thread that has joined network namespace `name` (setns changes only
/// the calling thread, and a Swift task may hop threads, so a thread of our own does it).
/// Sockets opened inside `body` stay bound to that namespace.
public func inNamespace<T>(_ name: String, _ body: @escaping () throws -> T) throws -> T {
    let result = ResultBox<T>()
    let job = NamespaceJob(path: "/run/netns/\(name)") { result.value = Result { try body() } }
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let job = Unmanaged<NamespaceJob>.fromOpaque(raw!).takeRetainedValue()
        let fd = open(job.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, clinux_setns_net(fd) == 0 else {
            job.failure = "cannot join \(job.path): errno \(errno)"
            if fd >= 0 { close(fd) }
            return nil
        }
        close(fd)
        job.run()
        return nil
    }, Unmanaged.passRetained(job).toOpaque())
    guard rc == 0 else { throw NamespaceError(description: "pthread_create failed: \(rc)") }
    pthread_join(thread, nil)
    if let failure = job.failure { throw NamespaceError(description: failure) }
    return try result.value!.get()
}

public struct NamespaceError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: Result<T, any Error>?
}

private final class NamespaceJob: @unchecked Sendable {
    let path: String
    let run: () -> Void
    var failure: String?
    init(path: String, run: @escaping () -> Void) { self.path = path; self.run = run }
}
