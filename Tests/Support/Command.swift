#if canImport(Glibc)
import Glibc
import CLinux
#endif

/// What a finished child process left behind.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var succeeded: Bool { status == 0 }
    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

public struct CommandError: Error, CustomStringConvertible {
    public var command: [String]
    public var result: CommandResult
    public var description: String { "command failed: \(command.joined(separator: " "))\n\(result)" }
}

/// Runs programs with `posix_spawn` + `waitpid`.
///
/// Foundation's `Process` was seen to hang under swift-testing's parallel runner (a child
/// inheriting a blocked signal mask ignored SIGTERM), so children here start with an empty
/// signal mask and default dispositions. Output goes to unlinked temporary files rather than
/// pipes, so a chatty child can never block on a full pipe while we wait for it.
public enum Command {
    /// Runs `argv` (searched in PATH), waits, and returns its exit status and output.
    /// `timeout` bounds the run: past it the child gets SIGKILL and the result says so.
    /// `environment` replaces this process's (less `withheldVariables` either way).
    @discardableResult
    public static func run(_ argv: [String], stdin: String? = nil, timeout: Double = 120, environment: [String]? = nil) -> CommandResult {
        let out = tempFile(), err = tempFile()
        let input = stdin.map { text -> Int32 in
            let fd = tempFile()
            _ = text.withCString { write(fd, $0, strlen($0)) }
            lseek(fd, 0, SEEK_SET)
            return fd
        }
        defer { close(out); close(err); if let input { close(input) } }
        guard let pid = spawn(argv, stdin: input, stdout: out, stderr: err, environment: environment) else {
            return CommandResult(status: 127, stdout: "", stderr: "cannot spawn \(argv.first ?? "")")
        }
        var status = wait(pid: pid, timeout: timeout)
        var errText = readAll(err)
        if status == nil {
            kill(pid, SIGKILL)
            status = wait(pid: pid, timeout: 10)
            errText += "\n[killed after \(timeout) s timeout]"
        }
        return CommandResult(status: status ?? -1, stdout: readAll(out), stderr: errText)
    }

    /// Like `run`, but throws `CommandError` unless the command exits 0.
    @discardableResult
    public static func check(_ argv: [String], stdin: String? = nil, timeout: Double = 120) throws -> CommandResult {
        let result = run(argv, stdin: stdin, timeout: timeout)
        guard result.succeeded else { throw CommandError(command: argv, result: result) }
        return result
    }

    /// Runs a shell snippet with bash -c.
    @discardableResult
    public static func sh(_ script: String, timeout: Double = 120) -> CommandResult {
        run(["/bin/bash", "-c", script], timeout: timeout)
    }

    /// Starts `argv` in the background with output to `logPath`; returns its pid.
    public static func start(_ argv: [String], logPath: String) -> pid_t? {
        let fd = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return spawn(argv, stdin: nil, stdout: fd, stderr: fd)
    }

    /// Waits for `pid` up to `timeout` seconds; returns the exit status, or nil if still running.
    public static func wait(pid: pid_t, timeout: Double) -> Int32? {
        let deadline = monotonicSeconds() + timeout
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                if status & 0x7f == 0 { return (status >> 8) & 0xff }
                return 128 + (status & 0x7f)
            }
            if r < 0 && errno != EINTR { return -1 }
            if monotonicSeconds() > deadline { return nil }
            usleep(2_000)
        }
    }

    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Variables no child of a test inherits. `NFTFWD_SAVE` in the shell that runs the tests
    /// would make every nftfwd they start also save to its file, by default the host's own
    /// /etc/nftfwd/mappings.json (`ip netns exec` shares /etc); a test that wants it sets it on
    /// the command line (`env NFTFWD_SAVE=FILE nftfwd ...`). Dropped here, where every process
    /// of the tests is started, rather than with unsetenv, which would race with other test
    /// threads reading the environment to spawn theirs.
    public static let withheldVariables = ["NFTFWD_SAVE"]

    /// `environment` ("NAME=value" strings) without `withheldVariables`.
    public static func childEnvironment(_ environment: [String]) -> [String] {
        environment.filter { entry in !withheldVariables.contains { entry.hasPrefix($0 + "=") } }
    }

    /// This process's environment, read once (nothing in the tests changes it).
    static let inherited: [String] = {
        var all: [String] = []
        var entry = environ
        while let p = entry.pointee {
            all.append(String(cString: p))
            entry += 1
        }
        return all
    }()

    /// Starts `argv` (searched in PATH) with a clean signal state and `environment` (this
    /// process's) less `withheldVariables`. Standard streams left nil read or write /dev/null;
    /// `extra` puts more descriptors in place (child fd: our fd), as dockerd hands a proxy its
    /// status pipe on fd 3 and its socket on fd 4; every other descriptor is closed in the child.
    public static func spawn(_ argv: [String], stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil,
                             extra: [Int32: Int32] = [:], environment: [String]? = nil) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, fd, mode) in [(Int32(0), stdin, O_RDONLY), (1, stdout, O_WRONLY), (2, stderr, O_WRONLY)] {
            if let fd { posix_spawn_file_actions_adddup2(&actions, fd, target) }
            else { posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0) }
        }
        for (target, fd) in extra.sorted(by: { $0.key < $1.key }) { posix_spawn_file_actions_adddup2(&actions, fd, target) }
        // Nothing else crosses: test helpers open sockets without FD_CLOEXEC while other tests
        // spawn, and a child holding a copy of, say, an echo server's accepted connection keeps
        // that connection open after the server closed it (a relay under test then waits for
        // an EOF that never comes). Closed in the child, after the dup2s: no race with threads.
        _ = clinux_spawn_actions_closefrom(&actions, (extra.keys.max() ?? 2) + 1)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var cenv: [UnsafeMutablePointer<CChar>?] = childEnvironment(environment ?? inherited).map { strdup($0) } + [nil]
        defer { cenv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, &cargs, &cenv)
        return rc == 0 ? pid : nil
    }

    static func tempFile() -> Int32 {
        var template = Array("/tmp/nftfwd-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        return fd
    }

    static func readAll(_ fd: Int32) -> String {
        lseek(fd, 0, SEEK_SET)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
