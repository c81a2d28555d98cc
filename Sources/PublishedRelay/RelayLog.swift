#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Logging
import PortForwarding

/// A swift-log handler that writes one line per message to standard error, shaped for where
/// the line goes.
///
/// Under systemd (`JOURNAL_STREAM` names the stream stderr is connected to) each line starts
/// with the syslog priority in angle brackets (`<4>`), which journald turns into the entry's
/// priority (sd-daemon(3)), and carries no timestamp: the journal adds its own. On a terminal or
/// in a file the line reads `nftfwd relay: ...`, with `warning:` or `error:` before the text
/// when it is one. Metadata is appended as `key=value`.
public struct RelayLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let journal: Bool
    let write: @Sendable (String) -> Void

    /// `journal`: nil decides from the environment, as systemd sets it.
    public init(label: String, journal: Bool? = nil, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.journal = journal ?? RelayLogHandler.stderrIsJournal()
        self.write = write ?? RelayLogHandler.writeToStandardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(format(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }

    /// Message and metadata quote the kernel's table and files (comments, names, errors):
    /// controls, bidi characters and newlines are escaped (`Untrusted.neutralize`), so one
    /// event is one line and none can forge another or drive a terminal.
    func format(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let message = Untrusted.neutralize(message)
        let fields = metadata.sorted { $0.key < $1.key }.map { " \(Untrusted.neutralize($0.key))=\(Untrusted.neutralize("\($0.value)"))" }.joined()
        if journal { return "<\(RelayLogHandler.syslogPriority(level))>\(message)\(fields)\n" }
        let tag: String
        switch level {
        case .warning: tag = "warning: "
        case .error, .critical: tag = "error: "
        default: tag = ""
        }
        return "\(label): \(tag)\(message)\(fields)\n"
    }

    /// syslog(3) priorities, as journald reads them from a `<N>` prefix.
    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects stdout/stderr to;
    /// stderr is the journal only if it is that very stream (not redirected by a shell since).
    static func stderrIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        var st = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    /// One write(2) per line, so lines from several threads never interleave.
    static let writeToStandardError: @Sendable (String) -> Void = { text in
        try? Posix.writeAll(2, text)   // a closed or full stderr: nowhere to say so
    }
}

extension Logger {
    /// The relay's logger: `RelayLogHandler` on stderr.
    public static func relay(label: String = "nftfwd relay", level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: label) { RelayLogHandler(label: $0) }
        logger.logLevel = level
        return logger
    }
}
