#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Where `nftfwd apply` keeps its record of what the table held after it (PortForwarding's
/// `ApplyRecords` says what the record proves and when it is believed): one small file per
/// network namespace and table in the runtime directory, `apply-<dev>-<ino>-<table>.record`
/// (the namespace's dev and inode, as the relay's status socket is named: `ip netns exec`
/// shares /run). Written only by root (the directory's files are 0600), replaced by rename.
/// It is a cache of a digest: a missing, unreadable or untrusted file only costs the next apply
/// a full read, so every failure here is silent.
public struct ApplyRecordFile {
    public let path: String
    /// The boot and the network namespace (its cookie, never reused within a boot), so that a
    /// record left by a namespace that is gone, whose inode a new one reuses, never matches.
    public let kernel: String

    /// The record file for `table` in the calling thread's network namespace, or nil when the
    /// namespace or the boot cannot be told (then applies just read the table).
    public init?(table: String, directory: String = RuntimeDirectory.path) {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { return nil }
        guard let cookie = ApplyRecordFile.namespaceCookie(), let boot = ApplyRecordFile.bootID() else { return nil }
        path = directory + "/apply-\(st.st_dev)-\(st.st_ino)-" + table + ".record"
        kernel = "boot \(boot) netns \(cookie)"
    }

    /// The record's text: only from a regular file of root's, mode 0600, one link, small.
    public func load() -> String? {
        guard RuntimeDirectory.check(directory) == .trusted else { return nil }
        guard let fd = try? Posix.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == 0, st.st_mode & 0o7777 == 0o600,
              st.st_nlink == 1, st.st_size < 4096 else { return nil }
        guard let bytes = try? Posix.readOnce(fd, count: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces the record (a temporary file renamed over it; no fsync: the directory is a
    /// tmpfs, and a lost record is only a slower apply).
    public func store(_ text: String) {
        guard (try? RuntimeDirectory.prepare(directory)) != nil else { return }
        let temporary = path + ".\(getpid()).tmp"
        guard let fd = try? Posix.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600) else { return }
        let written = (try? Posix.writeAll(fd, text)) != nil
        let closed = (try? Posix.closeChecked(fd)) != nil
        guard written, closed, rename(temporary, path) == 0 else { unlink(temporary); return }
    }

    /// Removes the record (after the table was deleted: nothing left to vouch for).
    public func remove() { unlink(path) }

    private var directory: String { String(path[..<path.lastIndex(of: "/")!]) }

    /// SO_NETNS_COOKIE (Linux 5.14): a 64-bit number unique to the network namespace for the
    /// whole boot, read from a throwaway socket created in it.
    static func namespaceCookie() -> UInt64? {
        guard let fd = try? Sockets.open(domain: AF_UNIX, type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)) else { return nil }
        defer { Posix.close(fd) }
        let soNetnsCookie: Int32 = 71   // not in Glibc's headers here
        return Sockets.option(fd, SOL_SOCKET, soNetnsCookie, as: UInt64(0))
    }

    static func bootID() -> String? {
        guard let fd = try? Posix.open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        guard let bytes = try? Posix.readOnce(fd, count: 64), !bytes.isEmpty else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).filter { $0 != "\n" }
        return text.isEmpty || text.contains(" ") ? nil : text
    }
}
