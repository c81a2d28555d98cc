#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SavedState
import SystemErrno

/// The control endpoint through which `relay --replace` takes a running relay's listening
/// sockets: `relay-<dev>-<ino>-<table>.takeover` beside the status socket (root's directory,
/// mode 0600, peers of uid 0 only), a SOCK_SEQPACKET socket so each `DescriptorPassing`
/// message arrives whole.
///
/// Exchange: the new relay sends `request(drainSeconds:)` (how long the old one may drain); the old one answers with its sockets in messages
/// of at most 250 descriptors (`TakeoverManifest` text each), then `done` with none; the new
/// relay adopts them and sends `adopted`. Only then does the old one let go (`handedOver`):
/// a new relay that fails or dies before it has adopted everything leaves the old one serving,
/// exactly as before.
enum TakeoverEndpoint {
    static func request(drainSeconds: Int) -> [UInt8] { Array("nftfwd-takeover request \(drainSeconds)\n".utf8) }
    /// The drain seconds a request asks for, or nil if it is not a request.
    static func drainSeconds(inRequest bytes: [UInt8]) -> Int? {
        let text = String(decoding: bytes, as: UTF8.self)
        let prefix = "nftfwd-takeover request "
        guard text.hasPrefix(prefix), text.hasSuffix("\n") else { return nil }
        let digits = text.dropFirst(prefix.count).dropLast()
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(digits), n <= 86_400 else { return nil }
        return n
    }
    static let done: [UInt8] = Array("nftfwd-takeover done\n".utf8)
    static let adopted: [UInt8] = Array("nftfwd-takeover adopted\n".utf8)
    /// Each message's text: 250 lines of at most ~60 bytes, with room.
    static let maxMessage = 32 * 1024

    static func path(table: String, directory: String = RuntimeDirectory.path) throws(RuntimeFileError) -> String {
        directory + "/relay-" + (try StatusChannel.namespaceKey()) + "-" + table + ".takeover"
    }

    /// Both ends wait at most this long for each message of the other.
    static func setTimeout(_ fd: Int32, seconds: Int) {
        Sockets.setTimeouts(fd, milliseconds: seconds * 1000)
    }
}
