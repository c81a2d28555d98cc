import Testing
@testable import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// Which NOTIFY_SOCKET values the relay speaks to (only what systemd writes: an absolute path
/// or "@" and an abstract name, fitting a socket address), and the datagram it sends there.
/// No root needed: a scratch socket in /tmp.
@Suite("systemd's NOTIFY_SOCKET")
struct SystemdNotifierTests {
    @Test("absolute paths and abstract names are spoken to; anything else is not")
    func values() {
        #expect(SystemdNotifier(notifySocket: "/run/systemd/notify")?.path == "/run/systemd/notify")
        #expect(SystemdNotifier(notifySocket: "@/org/freedesktop/systemd1/notify/1")?.path == "@/org/freedesktop/systemd1/notify/1")
        for refused in ["", "@", "/", "relative/notify", "notify", " /run/notify", "/" + String(repeating: "x", count: 108),
                        "@" + String(repeating: "x", count: 108)] {
            #expect(SystemdNotifier(notifySocket: refused) == nil, "\(refused.prefix(20))")
        }
    }

    @Test("the lines arrive as one datagram; a socket nobody holds is reported, not fatal")
    func sends() throws {
        let path = "/tmp/nftfwd-notify-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in path.utf8.enumerated() { buffer[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0, "bind \(path): errno \(errno)")
        let notifier = try #require(SystemdNotifier(notifySocket: path))
        #expect(notifier.send(["MAINPID=42", "READY=1"]))
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(count > 0 && String(decoding: buffer[0 ..< max(count, 0)], as: UTF8.self) == "MAINPID=42\nREADY=1")
        #expect(!SystemdNotifier(path: path + "-nobody").send(["READY=1"]))
    }
}
