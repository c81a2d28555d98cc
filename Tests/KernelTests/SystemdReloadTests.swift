import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// `systemctl reload nftfwd-relay` (issue 12): the unit's own ExecStart and ExecReload lines,
/// run as systemd runs them, with a stand-in for systemd's notification socket (no systemd runs
/// here). What systemd needs to follow the handover: READY=1 from the relay it started, then,
/// from the relay the reload started, MAINPID naming it before the old one exits, and the
/// reload command ending once the new relay serves.
@Suite("Kernel: the systemd unit's reload (relay --replace --detach)", .kernelTest, .serialized)
struct SystemdReloadTests {
    static let unit = repositoryRoot + "/contrib/systemd/nftfwd-relay.service"

    /// The unit's `key=` command line as argv, with our binary and NFTFWD_RELAY_OPTIONS empty.
    static func command(_ key: String) throws -> [String] {
        let text = TakeoverTests.file(unit)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(key + "=") }, "no \(key)= in the unit")
        return line.dropFirst(key.count + 1).split(separator: " ").compactMap { word in
            if word == "$NFTFWD_RELAY_OPTIONS" { return nil }
            return word == "/usr/local/sbin/nftfwd" ? nftfwdBinary : String(word)
        }
    }

    /// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
    final class NotifySocket {
        let path: String
        let fd: Int32
        init(_ path: String) throws {
            self.path = path
            unlink(path)
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            try #require(fd >= 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(bound == 0, "bind \(path): \(String(cString: strerror(errno)))")
        }
        deinit { close(fd); unlink(path) }

        /// The next datagram's lines, or nil after `timeout` seconds without one.
        func next(timeout: Double) -> [String]? {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n >= 0 else { return nil }
            return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").map(String.init)
        }
    }

    @Test("start sends READY=1 once serving; reload ends once the new relay serves, which named itself MAINPID first; the old one exits 0; the same port serves throughout")
    func reload() throws {
        let lab = try Lab(hostOnly: "sdr")
        let notify = try NotifySocket("/tmp/\(lab.net.prefix)-notify")
        var new: pid_t = 0
        defer { if new > 0 { kill(new, SIGTERM) }; lab.destroy() }
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:81")
        let start = try Self.command("ExecStart")
        #expect(start == [nftfwdBinary, "relay"])
        let old = try #require(lab.net.background(lab.host, ["env", "NOTIFY_SOCKET=\(notify.path)"] + start, log: RelayTests.relayLog(lab)))
        #expect(notify.next(timeout: 10) == ["READY=1"], "no READY=1 in 10 s: \(TakeoverTests.file(RelayTests.relayLog(lab)))")
        // Ready means serving: the status socket answers and the port is bound, at once.
        #expect(RelayTests.status(lab)?.pid == Int(old))
        #expect(RelayTests.status(lab)?.ports.first?.state == "listening")

        let reload = try Self.command("ExecReload")
        #expect(reload == [nftfwdBinary, "relay", "--replace", "--detach"])
        let reloaded = lab.net.run(lab.host, ["env", "NOTIFY_SOCKET=\(notify.path)"] + reload, timeout: 30)
        #expect(reloaded.status == 0, "\(reloaded)")
        // The MAINPID comes before the handover is confirmed (systemd must know the new main
        // process before the old one exits), and again with READY=1 once it serves.
        let announced = try #require(notify.next(timeout: 5), "no MAINPID from the new relay")
        let pid = try #require(announced.first.flatMap { $0.hasPrefix("MAINPID=") ? pid_t($0.dropFirst(8)) : nil }, "\(announced)")
        new = pid
        #expect(pid != old && kill(pid, 0) == 0)
        #expect(notify.next(timeout: 5) == ["MAINPID=\(pid)", "READY=1"])
        // --detach returned after the new relay serves: it answers already, under its pid.
        #expect(RelayTests.status(lab)?.pid == Int(pid))
        #expect(Command.wait(pid: old, timeout: 10) == 0, "the old relay did not exit 0: \(TakeoverTests.file(RelayTests.relayLog(lab)))")
        // Nothing further: the old relay, no longer the main process, says nothing to systemd.
        #expect(notify.next(timeout: 0.3) == nil)
        let listening = lab.net.run(lab.host, ["ss", "-Hltn", "sport = :8081"]).stdout
        #expect(listening.contains("127.0.0.1:8081"), "\(listening)")
    }

    @Test("a reload whose new relay cannot start exits non-zero with its error; the running relay serves on and stays the main process")
    func failedReload() throws {
        let lab = try Lab(hostOnly: "sdf")
        let notify = try NotifySocket("/tmp/\(lab.net.prefix)-notify")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "127.0.0.1:8081", "198.18.2.2:81")
        let old = try #require(lab.net.background(lab.host, ["env", "NOTIFY_SOCKET=\(notify.path)"] + (try Self.command("ExecStart")),
                                                  log: RelayTests.relayLog(lab)))
        #expect(notify.next(timeout: 10) == ["READY=1"])
        let missing = "/tmp/\(lab.net.prefix)-none.json"
        let reloaded = lab.net.run(lab.host, ["env", "NOTIFY_SOCKET=\(notify.path)"] + (try Self.command("ExecReload")) + ["--restore-from", missing], timeout: 30)
        #expect(reloaded.status == 1, "\(reloaded)")
        #expect(reloaded.stderr.contains("cannot read \(missing)"), "\(reloaded.stderr)")
        #expect(notify.next(timeout: 0.3) == nil, "a relay that did not take over must not claim the unit")
        #expect(Command.wait(pid: old, timeout: 0.5) == nil)
        #expect(RelayTests.status(lab)?.pid == Int(old))
    }
}
