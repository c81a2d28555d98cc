#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Where the CLI keeps PortForwarding's `VerifiedRules`: one file per nftfwd executable and
/// table name in the runtime directory, `rules-<dev>-<ino>-<mtime>-<size>-<table>.verified`,
/// named after the executable (`/proc/self/exe`) so that an upgraded or rebuilt nftfwd, whose
/// layout may differ, never reads an older binary's fingerprint, and after the table because
/// its name is in the rules' bytes. Not per namespace: the fingerprint is of the rules' bytes
/// alone, and today's rules list alike in every namespace.
///
/// A memo: a missing, unreadable or untrusted file only costs a full check, so every failure
/// here is silent. Written only by root (0600, by rename), read only from a regular file of
/// root's with one link.
public struct VerifiedRulesFile {
    public let path: String
    /// Larger than any fingerprint of today's rules (about 9 KB) with room for growth.
    static let maxBytes = 65536

    /// The file of the running executable (or of `executable`), or nil when it cannot be told.
    public init?(table: String, executable: String = "/proc/self/exe", directory: String = RuntimeDirectory.path) {
        var st = stat()
        guard stat(executable, &st) == 0 else { return nil }
        path = directory + "/rules-\(st.st_dev)-\(st.st_ino)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_size)-" + table + ".verified"
    }

    public func load() -> [UInt8]? {
        guard RuntimeDirectory.check(directory) == .trusted else { return nil }
        guard let fd = try? Posix.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_mode & 0o7777 == 0o600,
              st.st_nlink == 1, st.st_size > 0, st.st_size <= VerifiedRulesFile.maxBytes else { return nil }
        guard let bytes = try? Posix.readOnce(fd, count: VerifiedRulesFile.maxBytes + 1), bytes.count == Int(st.st_size) else { return nil }
        return bytes
    }

    /// Replaces the file (a temporary file renamed over it; no fsync: the directory is a tmpfs).
    public func store(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= VerifiedRulesFile.maxBytes, (try? RuntimeDirectory.prepare(directory)) != nil else { return }
        let temporary = path + ".\(getpid()).tmp"
        guard let fd = try? Posix.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600) else { return }
        let written = bytes.withUnsafeBytes { raw in (try? Posix.writeAll(fd, raw)) != nil }
        let closed = (try? Posix.closeChecked(fd)) != nil
        guard written, closed, rename(temporary, path) == 0 else { unlink(temporary); return }
    }

    private var directory: String { String(path[..<path.lastIndex(of: "/")!]) }
}
