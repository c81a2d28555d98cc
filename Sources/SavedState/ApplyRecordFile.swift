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
        RootOnlyFile.read(path, maxBytes: 4095).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Replaces the record (`RootOnlyFile`: a temporary file renamed over it).
    public func store(_ text: String) {
        var text = text
        text.withUTF8 { RootOnlyFile.replace(path, with: UnsafeRawBufferPointer($0)) }
    }

    /// Removes the record (after the table was deleted: nothing left to vouch for).
    public func remove() { unlink(path) }

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
