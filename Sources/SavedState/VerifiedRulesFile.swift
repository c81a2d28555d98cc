#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Where the CLI keeps PortForwarding's `VerifiedRules`: one file per nftfwd executable and
/// table name in the runtime directory, `rules-<dev>-<ino>-<mtime>-<size>-<table>.verified`,
/// named after the executable (`/proc/self/exe`, `ExecutableIdentity`) so that an upgraded or rebuilt nftfwd, whose
/// layout may differ, never reads an older binary's fingerprint, and after the table because
/// its name is in the rules' bytes. Not per namespace: the fingerprint is of the rules' bytes
/// alone, and today's rules list alike in every namespace.
///
/// A memo: a missing, unreadable or untrusted file only costs a full check, so every failure
/// here is silent (`RootOnlyFile`, as the apply records).
public struct VerifiedRulesFile {
    public let path: String
    /// Larger than any fingerprint of today's rules (about 27 KB) with room for growth.
    static let maxBytes = 65536

    /// The file of the running executable (or of `executable`), or nil when it cannot be told.
    public init?(table: String, executable: String = "/proc/self/exe", directory: String = RuntimeDirectory.path) {
        guard let identity = ExecutableIdentity.of(executable) else { return nil }
        path = directory + "/rules-" + identity + "-" + table + ".verified"
    }

    /// Load and store for `table`'s file that find the file only when first called: a command
    /// whose layout record proves the table (most `add`s) never needs it, and naming it costs
    /// a stat of the executable and about 2% of an `add` (perf).
    public static func onDemand(table: String) -> (load: () -> [UInt8]?, store: ([UInt8]) -> Void) {
        (load: { VerifiedRulesFile(table: table)?.load() }, store: { VerifiedRulesFile(table: table)?.store($0) })
    }

    /// The fingerprint (`RootOnlyFile`'s checks), nil for none or an empty file.
    public func load() -> [UInt8]? {
        guard let bytes = RootOnlyFile.read(path, maxBytes: VerifiedRulesFile.maxBytes), !bytes.isEmpty else { return nil }
        return bytes
    }

    /// Replaces the file (`RootOnlyFile`: a temporary file renamed over it).
    public func store(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= VerifiedRulesFile.maxBytes else { return }
        bytes.withUnsafeBytes { RootOnlyFile.replace(path, with: $0) }
    }
}
