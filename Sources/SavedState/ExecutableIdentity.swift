#if canImport(Glibc)
import Glibc
#endif

/// Names one build of an executable: its file's device, inode, modification time and size.
/// A cache of what one build verified (`VerifiedRulesFile`, the layout record) must not be
/// believed by another, whose table layout may differ; an upgrade or rebuild changes at least
/// one of these.
public enum ExecutableIdentity {
    /// "dev-ino-mtime-size" of `path` (following symlinks: /proc/self/exe), nil if unknown.
    public static func of(_ path: String = "/proc/self/exe") -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_dev)-\(st.st_ino)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_size)"
    }
}
