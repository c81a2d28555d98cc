#if canImport(Glibc)
import Glibc
#endif
import Testing

extension NFTRelayTests {
    /// docker-proxy reads its ports with Go's `flag.Int` (strconv.ParseInt base 0): nftfwd-proxy
    /// takes what Go takes, since dockerd and scripts may rely on it, and nothing else.
    @Suite("nftfwd-proxy: port flags as Go parses them")
    struct ProxyPortFlags {
        static func hex(_ p: UInt16) -> String { "0x" + String(p, radix: 16) }
        static func octal(_ p: UInt16) -> String { "0" + String(p, radix: 8) }

        @Test("Go's forms of a port: decimal, +sign, 0x, 0o, leading-0 octal, 0b, underscores between digits",
              arguments: ["dec", "plus", "hex", "HEX", "0o", "octal", "binary", "underscore", "prefix_"])
        func accepted(form: String) throws {
            let port = TestSocket.freePort()
            let text: String
            switch form {
            case "dec": text = "\(port)"
            case "plus": text = "+\(port)"
            case "hex": text = Self.hex(port)
            case "HEX": text = "0X" + String(port, radix: 16, uppercase: true)
            case "0o": text = "0o" + String(port, radix: 8)
            case "octal": text = Self.octal(port)
            case "binary": text = "0b" + String(port, radix: 2)
            case "underscore": let d = "\(port)"; text = d.prefix(1) + "_" + d.dropFirst()
            default: text = "0x_" + String(port, radix: 16)
            }
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", text,
                                          "-container-ip", "127.0.0.1", "-container-port", "9"])
            #expect(proxy.status() == "0\n", "\(text)")
            // It listens on the port the text means, not on another one.
            let fd = TestSocket.connect("127.0.0.1", port)
            #expect(fd >= 0, "\(text) did not listen on \(port)")
            if fd >= 0 { close(fd) }
            #expect(proxy.stop(SIGTERM) == 0)
        }

        @Test("what Go refuses is a usage error (exit 2), never another port",
              arguments: ["0x+1f90", "0x-1f90", "0+17620", "8080 ", " 8080", "_8080", "8080_", "80__80", "0x", "1e3", "8080.0",
                          "\u{ff18}\u{ff10}\u{ff18}\u{ff10}", "08080", "0b102", "++8080", ""])
        func refused(text: String) throws {
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", text,
                                          "-container-ip", "127.0.0.1", "-container-port", "9"])
            #expect(proxy.status() == "1\ninvalid value \"\(text)\" for flag -host-port: parse error")
            #expect(proxy.waitExit() == 2)
        }

        @Test("a value Go parses but no port has is refused as out of range", arguments: ["0", "-8080", "65536", "0x10000"])
        func outOfRange(text: String) throws {
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", text,
                                          "-container-ip", "127.0.0.1", "-container-port", "9"])
            #expect(proxy.status().hasPrefix("1\ninvalid -host-port "))
            #expect(proxy.waitExit() == 1)
        }
    }
}
