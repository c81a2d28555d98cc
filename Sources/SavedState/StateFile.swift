#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemErrno

/// The saved state on disk: where it lives, and reading and writing it whole.
///
/// Writes are atomic and durable: the text goes to a temporary file in the same directory,
/// which is fsynced and renamed over the old file, and the directory is fsynced so the rename
/// itself survives a crash (as is the parent of a directory the write had to create). A reader (the boot-time restore, the relay) therefore sees either
/// the old file or the new one, never a part.
public enum StateFile {
    public static let directory = "/etc/nftfwd"

    /// `/etc/nftfwd/mappings.json` for the default table, `/etc/nftfwd/mappings-NAME.json` for
    /// `--table NAME`, so tables never share a file.
    public static func defaultPath(table: String) -> String {
        directory + (table == "nftfwd" ? "/mappings.json" : "/mappings-\(table).json")
    }

    /// The whole file as text; `-` reads standard input.
    public static func read(_ path: String) throws(StateFileError) -> String {
        let fd: Int32
        do { fd = path == "-" ? 0 : try Posix.open(path, O_RDONLY | O_CLOEXEC) } catch { throw StateFileError(.read, path, "open", error.errno) }
        defer { if fd != 0 { Posix.close(fd) } }
        do {
            return String(decoding: try Posix.readAll(fd), as: UTF8.self)
        } catch {
            throw StateFileError(.read, path, "read", error.errno)
        }
    }

    /// Replaces `path` with `text` atomically (see the type's comment), mode 0644. Creates the
    /// directory holding it (one level, mode 0755) when it is missing.
    public static func write(_ text: String, to path: String) throws(StateFileError) {
        let (dir, base) = split(path)
        try ensureDirectory(dir, for: path)
        let temp = dir + "/." + base + ".tmp-\(getpid())"
        func create() throws(SyscallError) -> Int32 {
            try Posix.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o644)
        }
        let fd: Int32
        do {
            do {
                fd = try create()
            } catch where error.errno == .exists {
                // Left by a process of the same pid that died mid-write: ours to replace.
                unlink(temp)
                fd = try create()
            }
        } catch {
            throw StateFileError(.write, path, "create \(temp)", error.errno)
        }
        var renamed = false
        defer { if !renamed { unlink(temp) } }
        do throws(StateFileError) {
            try writeAll(text, to: fd, path: path)
            // The umask must not decide who may read the file.
            guard fchmod(fd, 0o644) == 0 else { throw StateFileError(.write, path, "fchmod", .current) }
            do { try Posix.fsync(fd) } catch { throw StateFileError(.write, path, "fsync", error.errno) }
        } catch {
            Posix.close(fd)
            throw error
        }
        do { try Posix.closeChecked(fd) } catch { throw StateFileError(.write, path, "close", error.errno) }
        guard rename(temp, path) == 0 else { throw StateFileError(.write, path, "rename", .current) }
        renamed = true
        do {
            try syncDirectory(dir)
        } catch {
            throw StateFileError(.write, path, error.step, error.errno, replaced: true)
        }
    }

    /// fsync of a directory, so the entries created or renamed in it survive a crash.
    static func syncDirectory(_ dir: String) throws(StateFileError) {
        let dirfd: Int32
        do { dirfd = try Posix.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } catch { throw StateFileError(.write, dir, "open \(dir)", error.errno) }
        defer { Posix.close(dirfd) }
        do { try Posix.fsync(dirfd) } catch { throw StateFileError(.write, dir, "fsync \(dir)", error.errno) }
    }

    /// `path` made absolute, with its directory resolved (symlinks, `..`), so two spellings of
    /// one file compare equal. The file itself need not exist.
    public static func canonical(_ path: String) -> String {
        let (dir, base) = split(path)
        guard let resolved = realpath(dir, nil) else { return absolute(dir) + "/" + base }
        defer { free(resolved) }
        let d = String(cString: resolved)
        return (d == "/" ? "" : d) + "/" + base
    }

    // MARK: - Helpers

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == "." ? cwd : cwd + "/" + path
    }

    /// Creates the directory that will hold `path` (one level, mode 0755) when it is missing,
    /// so it can be locked before the first save.
    public static func createDirectory(for path: String) throws(StateFileError) {
        try ensureDirectory(split(path).directory, for: path)
    }

    static func ensureDirectory(_ dir: String, for path: String) throws(StateFileError) {
        var st = stat()
        if stat(dir, &st) == 0 { return }
        guard errno == ENOENT else { throw StateFileError(.write, path, "stat \(dir)", .current) }
        guard mkdir(dir, 0o755) == 0 || errno == EEXIST else { throw StateFileError(.write, path, "mkdir \(dir)", .current) }
        // mkdir's mode passes through the umask; the directory should be readable by all.
        guard chmod(dir, 0o755) == 0 else { throw StateFileError(.write, path, "chmod \(dir)", .current) }
        // The new directory's own entry must survive a crash too, or the file in it would not.
        do {
            try syncDirectory(split(dir).directory)
        } catch {
            throw StateFileError(.write, path, error.step, error.errno)
        }
    }

    static func writeAll(_ text: String, to fd: Int32, path: String) throws(StateFileError) {
        do { try Posix.writeAll(fd, text) } catch { throw StateFileError(.write, path, "write", error.errno) }
    }
}
