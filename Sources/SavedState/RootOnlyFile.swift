#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// A small file of the runtime directory that only root writes and that is only a cache (an
/// apply record, a verified-rules fingerprint): read only from a regular file of root's, mode
/// 0600, one link, at most `maxBytes`, in a directory `RuntimeDirectory` trusts; replaced by a
/// temporary file renamed over it (no fsync: the directory is a tmpfs, and a lost file only
/// costs a full read). Every failure is nil or silent.
enum RootOnlyFile {
    static func read(_ path: String, maxBytes: Int) -> [UInt8]? {
        guard RuntimeDirectory.check(directory(of: path)) == .trusted else { return nil }
        // O_NONBLOCK: a FIFO in the file's place must not stall the command (a regular file ignores it).
        guard let fd = try? Posix.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_mode & 0o7777 == 0o600,
              st.st_nlink == 1, st.st_size <= maxBytes else { return nil }
        guard let bytes = try? Posix.readOnce(fd, count: maxBytes + 1), bytes.count == Int(st.st_size) else { return nil }
        return bytes
    }

    static func replace(_ path: String, with bytes: UnsafeRawBufferPointer) {
        guard (try? RuntimeDirectory.prepare(directory(of: path))) != nil else { return }
        let temporary = path + ".\(getpid()).tmp"
        guard let fd = try? Posix.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600) else { return }
        let written = (try? Posix.writeAll(fd, bytes)) != nil
        let closed = (try? Posix.closeChecked(fd)) != nil
        guard written, closed, rename(temporary, path) == 0 else { unlink(temporary); return }
    }

    /// Rewrites the file in place when it is already root's 0600 regular file of exactly this
    /// size, else `replace`s it. For a record rewritten after every commit: on a disk-backed
    /// /run (ext4 here), a file replaced by rename has its blocks written out at the rename
    /// (ext4's auto_da_alloc), which cost 5% of an `add` (perf); in place it is one write into
    /// the page cache. A reader can see a write half done (or two writers' bytes mixed), so
    /// what is written this way must prove itself whole (the layout record's checksum).
    static func overwrite(_ path: String, with bytes: UnsafeRawBufferPointer) {
        guard RuntimeDirectory.check(directory(of: path)) == .trusted,
              let fd = try? Posix.open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) else { return replace(path, with: bytes) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_mode & 0o7777 == 0o600,
              st.st_nlink == 1, st.st_size == bytes.count else {
            Posix.close(fd)
            return replace(path, with: bytes)
        }
        let written = (try? Posix.writeAll(fd, bytes)) != nil
        let closed = (try? Posix.closeChecked(fd)) != nil
        if !written || !closed { replace(path, with: bytes) }
    }

    static func directory(of path: String) -> String { String(path[..<path.lastIndex(of: "/")!]) }
}
