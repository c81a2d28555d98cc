#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// One small record per network namespace and table in the runtime directory,
/// `<kind>-<dev>-<ino>-<table>.record` (the namespace's dev and inode, as the relay's status
/// socket is named: `ip netns exec` shares /run). Two kinds: `apply`, the record of what the
/// table held after `nftfwd apply` (PortForwarding's `ApplyRecords`), and `layout`, the
/// generation at which our own commit left the table in today's layout (`LayoutRecords`).
/// Written only by root (the directory's files are 0600), replaced by rename. Each is a cache:
/// a missing, unreadable or untrusted file only costs the next command a full read, so every
/// failure here is silent.
public struct NamespaceRecordFile {
    public let path: String
    /// The boot and the network namespace (its cookie, never reused within a boot), so that a
    /// record left by a namespace that is gone, whose inode a new one reuses, never matches.
    public let kernel: String

    /// The record file of `kind` for `table` in the calling thread's network namespace, or nil
    /// when the namespace or the boot cannot be told (then commands just read the table).
    public init?(kind: String, table: String, directory: String = RuntimeDirectory.path) {
        var st = stat()
        guard stat("/proc/thread-self/ns/net", &st) == 0 else { return nil }
        guard let cookie = NamespaceRecordFile.namespaceCookie(), let boot = NamespaceRecordFile.bootID() else { return nil }
        path = directory + "/\(kind)-\(st.st_dev)-\(st.st_ino)-" + table + ".record"
        kernel = "boot \(boot) netns \(cookie)"
    }

    /// `apply`'s record file.
    public static func apply(table: String) -> NamespaceRecordFile? { NamespaceRecordFile(kind: "apply", table: table) }

    /// The layout record file; its `kernel` also names the running executable
    /// (`ExecutableIdentity`): another build's layout may differ, so its record must not match.
    public static func layout(table: String, executable: String = "/proc/self/exe") -> NamespaceRecordFile? {
        guard let file = NamespaceRecordFile(kind: "layout", table: table),
              let identity = ExecutableIdentity.of(executable) else { return nil }
        return file.naming(executable: identity)
    }

    private init(path: String, kernel: String) { self.path = path; self.kernel = kernel }

    private func naming(executable identity: String) -> NamespaceRecordFile {
        NamespaceRecordFile(path: path, kernel: kernel + " exe " + identity)
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

    /// Rewrites the record in place when it has the same length (`RootOnlyFile.overwrite`):
    /// only for a record whose text proves itself whole, as the layout record's checksum does.
    public func overwrite(_ text: String) {
        var text = text
        text.withUTF8 { RootOnlyFile.overwrite(path, with: UnsafeRawBufferPointer($0)) }
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
