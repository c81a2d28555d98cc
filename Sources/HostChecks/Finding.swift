import PortForwarding

/// What one check found: a line of `nftfwd doctor`, or (when not OK) of the warnings
/// `nftfwd add` and `ls` print.
public struct Finding: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable {
        /// Nothing to do.
        case ok
        /// Something may not work, or is unsafe; nftfwd cannot tell for sure.
        case warn
        /// Something published does not work (or cannot be published at all).
        case fail

        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
        /// OK / WARN / FAIL, as doctor prints it.
        public var label: String { rawValue.uppercased() }
    }

    /// The check's stable name (`ipv4-forwarding`), for scripts.
    public var check: Check
    public var status: Status
    /// What is the case, and what it means for published traffic.
    public var message: String
    /// How to fix it (a command where there is one); nil when nothing needs fixing.
    public var fix: String?

    public init(_ check: Check, _ status: Status, _ message: String, fix: String? = nil) {
        self.check = check; self.status = status; self.message = message; self.fix = fix
    }

    /// `nftfwd: warning: <message>; <fix>`: the one line `add` and `ls` print for a problem,
    /// worded like every other warning of the CLI.
    public var warningLine: String {
        "nftfwd: warning: " + message + (fix.map { "; " + $0 } ?? "")
    }

    public var json: JSON {
        .object([("check", .string(check.rawValue)), ("status", .string(status.rawValue)),
                 ("message", .string(message)), ("fix", fix.map { .string($0) } ?? .null)])
    }
}
