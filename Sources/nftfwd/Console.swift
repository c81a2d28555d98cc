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
        let (message, code) = classify(failure) ?? ("\(failure)", 2)
        error("nftfwd: " + message)
        return code
    }

    /// The errors the layers declare: their one-line message and exit code; nil for others.
    private static func classify(_ failure: any Error) -> (String, Int32)? {
        switch failure {
        case let e as MappingError: return ("\(e)", 1)
        // A file named that cannot be read is a mistake in the request; one that cannot be
        // written, or whose directory cannot be locked, is the system's.
        case let e as StateFileError: return ("\(e)", e.action == .read ? 1 : 2)
        case let e as PersistenceError:
            if case .wouldBeUndone = e { return ("\(e)", 1) }
            return ("\(e)", 2)
        case let e as NetlinkError where e.errno == .permission:
            return ("the kernel refused access to nftables: \(Errno.permission). Managing nftables needs CAP_NET_ADMIN: run nftfwd as root.", 2)
        case let e as SyscallError: return ("\(e.function) failed: \(e.errno)", 2)
        case is ForeignTableError, is NetlinkError, is RelayDaemonError, is RuntimeFileError, is Errno, is SysctlError: return ("\(failure)", 2)
        default: return nil
        }
    }
}

@main
enum Main {
    static func main() {
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
