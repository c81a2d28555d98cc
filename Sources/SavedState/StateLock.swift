#if canImport(Glibc)
import Glibc
#endif
import SystemErrno

/// The lock of a saved state file, so a change and its saving happen as one step for everyone
/// else who honours it: a `nftfwd --save` writer, and `nftfwd relay --restore-from`, which must
/// not see the kernel changed but the file not yet (it would undo the change).
///
/// It is a `RuntimeLock` in /run/nftfwd named after the file's canonical path
/// (`saved-etc-nftfwd-mappings.json.lock`), not a lock on the file's directory: anyone can
/// open a directory and flock it, which let any user stall every saving change and the
/// restorer. /run/nftfwd is also where the sandboxed relay (ProtectSystem=strict) may write.
public enum StateLock {
    /// Takes the lock of the saved file at `path`, waiting up to `timeout` seconds for another
    /// holder (nil: do not wait). Nil when it stayed held. Released when the value goes away
    /// (or the process ends: the kernel drops the lock with the descriptor).
    public static func acquire(for path: String, timeout: Double?,
                               directory: String = RuntimeDirectory.path) throws(RuntimeFileError) -> RuntimeLock? {
        try RuntimeDirectory.prepare(directory)
        return try RuntimeLock.acquire(lockPath(for: path, directory: directory), wait: timeout)
    }

    /// `<directory>/saved-<canonical path, escaped>.lock`; a path too long for a file name is
    /// named by a hash of it instead (two files sharing a lock only wait for each other).
    public static func lockPath(for path: String, directory: String = RuntimeDirectory.path) -> String {
        let canonical = StateFile.canonical(path)
        let escaped = escape(canonical)
        let name = escaped.utf8.count <= 200 ? escaped : "hash-" + String(fnv1a(canonical), radix: 16)
        return directory + "/saved-" + name + ".lock"
    }

    /// systemd's escaping of paths: the leading "/" dropped, "/" as "-", and every byte other
    /// than a letter, digit, "_" or "." (or a leading ".") as `\xNN`, so no two paths collide.
    static func escape(_ path: String) -> String {
        var out = ""
        let bytes = Array(path.utf8.drop { $0 == UInt8(ascii: "/") })
        for (i, b) in bytes.enumerated() {
            switch b {
            case UInt8(ascii: "/"): out += "-"
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: ".") where i > 0: out += "."
            default:
                let hex = String(b, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return hash
    }
}
