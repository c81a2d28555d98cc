#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Whole reads of the small files of /proc and /sys the bridge checks look at (routes, ARP,
/// a bridge's ports and forwarding database). They belong to the network namespace of the
/// thread that opens them, like the sysctls.
enum SystemFiles {
    /// The file's bytes (at most `limit`); nil if it cannot be opened.
    static func bytes(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        guard let fd = try? Posix.open(path, O_RDONLY | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        return Posix.readAvailable(fd, limit: limit, chunk: 16384)
    }

    static func text(_ path: String) -> String? { bytes(path).map { String(decoding: $0, as: UTF8.self) } }

    /// Whitespace-separated fields of each line after the first (the header), when `header`.
    /// Split on the UTF-8 bytes (space, tab and newline never occur inside a multi-byte
    /// character): splitting Characters checks grapheme breaks at each one, about 100,000
    /// instructions for /proc/net/route, 5% of an `add` (callgrind).
    static func table(_ path: String, header: Bool) -> [[Substring]] {
        guard let text = text(path) else { return [] }
        let lines = text.utf8.split(separator: UInt8(ascii: "\n")).dropFirst(header ? 1 : 0)
        return lines.map { line in
            line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }).map { Substring($0) }
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func entries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }
}
