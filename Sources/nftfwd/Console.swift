#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import NFTables
import PortForwarding
import PublishedRelay
import NFTRelay
import SavedState
import HostChecks
import SystemCalls

/// Output, and the one place errors become messages and exit codes.
enum Console {
    /// Standard output. What it prints quotes the kernel's table and files; values are
    /// escaped where they enter the text (`Untrusted.escape`), and this is the safety net for
    /// any that were not: no control or bidi character reaches the terminal raw.
    static func out(_ text: String) {
        write(all: Untrusted.neutralize(text, keepingNewlines: true), to: 1)
    }

    /// One line on standard error: a newline inside `text` (a name quoted in a message) is
    /// escaped with the rest, so it cannot start a line of its own.
    static func error(_ text: String) {
        let line = text.hasSuffix("\n") ? String(text.dropLast()) : text
        write(all: Untrusted.neutralize(line) + "\n", to: 2)
    }

    /// Several lines on standard error (the import report, the parser's usage messages).
    static func errorLines(_ text: String) {
        write(all: Untrusted.neutralize(text.hasSuffix("\n") ? text : text + "\n", keepingNewlines: true), to: 2)
    }

    /// Unbuffered, whole-string writes (no stdio globals, which strict concurrency rejects).
    /// Every byte, or as many as the fd takes: a closed or full stdout is not worth a second error.
    private static func write(all text: String, to fd: Int32) {
        try? Posix.writeAll(fd, text)
    }

    /// Exit codes: 1 for a request that cannot be carried out as asked (nothing changed),
    /// 2 for a failure of the system (permissions, netlink, a table nftfwd cannot read), and
    /// for any error no layer declares: what nobody foresaw is never blamed on the request.
    static func exitCode(reporting failure: any Error) -> Int32 {
        // The parser's errors (some reach here from `run`, help for a subcommand among them)
        // are its own types, several of them internal to it: told apart by their module.
        if String(reflecting: type(of: failure)).hasPrefix("ArgumentParser.") {
            // The parser's own outcomes (help, version, usage errors) print and exit its way;
            // usage errors exit 1 like every other mistake in a request.
            if Nftfwd.exitCode(for: failure) == .success { Nftfwd.exit(withError: failure) }
            errorLines(Nftfwd.fullMessage(for: failure))
            return 1
        }
        // One question, not a list of types: every error a layer declares says how it is
        // reported (`ReportedError`, below); anything else is a failure nobody foresaw.
        let (message, code) = (failure as? any ReportedError).map { ($0.consoleMessage, $0.exitCode) } ?? ("\(failure)", 2)
        error("nftfwd: " + message)
        return code
    }
}

/// An error a layer declares, with the one line and exit code the CLI reports it with:
/// 1 for a request that cannot be carried out as asked, 2 for the system's failure.
protocol ReportedError: Error {
    var consoleMessage: String { get }
    var exitCode: Int32 { get }
}

extension ReportedError where Self: CustomStringConvertible {
    var consoleMessage: String { description }
}

/// Publisher's and TableReader's one error: each case by name, so a new one does not compile
/// until it has its exit code here.
extension PublishError: ReportedError {
    var consoleMessage: String {
        switch self {
        case .netlink(let e): return e.consoleMessage
        case .mapping, .foreignTable, .tableMoving: return description
        }
    }
    var exitCode: Int32 {
        switch self {
        case .mapping(let e): return e.exitCode
        case .netlink(let e): return e.exitCode
        case .foreignTable, .tableMoving: return 2
        }
    }
}

extension MappingError: ReportedError { var exitCode: Int32 { 1 } }

// A file named that cannot be read is a mistake in the request; one that cannot be written,
// or whose directory cannot be locked, is the system's.
extension StateFileError: ReportedError { var exitCode: Int32 { action == .read ? 1 : 2 } }

extension PersistenceError: ReportedError {
    var exitCode: Int32 {
        switch self {
        case .wouldBeUndone: return 1
        case .relayUnknown, .notSaved, .lockBusy: return 2
        }
    }
}

extension NetlinkError: ReportedError {
    var consoleMessage: String {
        guard errno == .permission else { return description }
        return "the kernel refused access to nftables: \(Errno.permission). Managing nftables needs CAP_NET_ADMIN: run nftfwd as root."
    }
    var exitCode: Int32 { 2 }
}

extension SyscallError: ReportedError {
    var consoleMessage: String { "\(function) failed: \(errno)" }
    var exitCode: Int32 { 2 }
}

extension ForeignTableError: ReportedError { var exitCode: Int32 { 2 } }
extension TableMovingError: ReportedError { var exitCode: Int32 { 2 } }
extension RelayDaemonError: ReportedError { var exitCode: Int32 { 2 } }
extension RuntimeFileError: ReportedError { var exitCode: Int32 { 2 } }
extension Errno: ReportedError { var exitCode: Int32 { 2 } }
extension SysctlError: ReportedError { var exitCode: Int32 { 2 } }

@main
enum Main {
    static func main() {
        // The plain forms of `add` skip the library's parser and its option groups (QuickAdd:
        // process start).
        if let quick = QuickAdd.parse(CommandLine.arguments.dropFirst()) {
            do { try quick.run() } catch { exit(Console.exitCode(reporting: error)) }
            return
        }
        let command: ParsableCommand
        do {
            command = try Nftfwd.parseAsRoot()
        } catch {
            // --help and --version exit 0 through the library; usage errors exit 1 with its message.
            if Nftfwd.exitCode(for: error) == .success { Nftfwd.exit(withError: error) }
            Console.errorLines(Nftfwd.fullMessage(for: error))
            exit(1)
        }
        do {
            var command = command
            try command.run()
        } catch {
            if let code = error as? ExitCode { exit(code.rawValue) }
            exit(Console.exitCode(reporting: error))
        }
    }
}
