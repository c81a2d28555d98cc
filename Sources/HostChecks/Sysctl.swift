#if canImport(Glibc)
import Glibc
#endif
import SystemErrno

/// The kernel settings under /proc/sys. The net.* ones belong to the network namespace of
/// the thread that opens the file, so under `ip netns exec NS` they are NS's own.
public enum Sysctl {
    /// The value of `name` (`net.ipv4.ip_forward`), trimmed; nil if it cannot be read.
    public static func read(_ name: String) -> String? {
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        var n: Int
        repeat { n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
        guard n >= 0 else { return nil }
        var text = String(decoding: buffer[0..<n], as: UTF8.self)
        while text.last?.isWhitespace == true { text.removeLast() }
        return text
    }

    /// A 0/1 setting as a Bool; nil if it cannot be read.
    public static func flag(_ name: String) -> Bool? {
        read(name).flatMap { Int($0) }.map { $0 != 0 }
    }

    /// Writes `value` to `name`, as `sysctl -w name=value` does.
    public static func write(_ name: String, _ value: String) throws(SysctlError) {
        let fd = open(path(name), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SysctlError(name: name, errno: .current) }
        defer { close(fd) }
        var text = value + "\n"
        let n = text.withUTF8 { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { throw SysctlError(name: name, errno: .current) }
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
        "/proc/sys/" + String(name.map { $0 == "." ? "/" : $0 == "/" ? "." : $0 })
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
