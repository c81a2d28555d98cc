#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemErrno

/// The kernel settings under /proc/sys. The net.* ones belong to the network namespace of
/// the thread that opens the file, so under `ip netns exec NS` they are NS's own.
public enum Sysctl {
    /// The value of `name` (`net.ipv4.ip_forward`), trimmed; nil if it cannot be read.
    public static func read(_ name: String) -> String? {
        guard let fd = try? Posix.open(path(name), O_RDONLY | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        guard let bytes = try? Posix.readOnce(fd, count: 256) else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }

    /// A 0/1 setting as a Bool; nil if it cannot be read.
    public static func flag(_ name: String) -> Bool? {
        read(name).flatMap { Int($0) }.map { $0 != 0 }
    }

    /// Writes `value` to `name`, as `sysctl -w name=value` does.
    public static func write(_ name: String, _ value: String) throws(SysctlError) {
        // One write: /proc/sys takes a value whole or not at all.
        let fd: Int32
        do { fd = try Posix.open(path(name), O_WRONLY | O_CLOEXEC) } catch { throw SysctlError(name: name, errno: error.errno) }
        defer { Posix.close(fd) }
        var text = value + "\n"
        let written = text.withUTF8 { buffer in
            Result { () throws(SyscallError) in try Posix.writeOnce(fd, UnsafeRawBufferPointer(buffer)) }
        }
        if case .failure(let error) = written { throw SysctlError(name: name, errno: error.errno) }
    }

    /// The names of the entries in a /proc/sys directory (`net.ipv4.conf`: all, default, lo, eth0...).
    public static func entries(_ name: String) -> [String] {
        guard let dir = opendir(path(name)) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if entryName != "." && entryName != ".." { out.append(entryName) }
        }
        return out.sorted()
    }

    /// `net.ipv4.conf.eth0/100.route_localnet`: sysctl's dotted name, in which a dot inside an
    /// interface name is written as '/', to /proc/sys/net/ipv4/conf/eth0.100/route_localnet.
    static func path(_ name: String) -> String {
        // On the UTF-8 bytes ('.' and '/' are ASCII, and never part of a longer sequence):
        // mapping Characters checks grapheme breaks at each one, about 20,000 instructions a
        // name, and `add` reads three settings.
        var bytes = Array("/proc/sys/".utf8)
        bytes.reserveCapacity(bytes.count + name.utf8.count)
        for byte in name.utf8 { bytes.append(byte == UInt8(ascii: ".") ? UInt8(ascii: "/") : byte == UInt8(ascii: "/") ? UInt8(ascii: ".") : byte) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// How `sysctl` names an interface inside a dotted name.
    public static func component(_ interface: String) -> String {
        String(interface.map { $0 == "." ? "/" : $0 })
    }
}

public struct SysctlError: Error, CustomStringConvertible {
    public var name: String
    public var errno: Errno
    /// What was already done when the setting failed (e.g. "8080/tcp is published"), if anything.
    public var after: String?
    public init(name: String, errno: Errno, after: String? = nil) {
        self.name = name; self.errno = errno; self.after = after
    }
    public var description: String {
        let reason = "cannot set \(name): \(errno.message)"
        return after.map { "\($0), but \(reason); set it with 'sysctl -w \(name)=1'" } ?? reason
    }
}
