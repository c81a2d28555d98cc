import Testing
import TestSupport
import PublishedRelay
#if canImport(Glibc)
import Glibc
#endif

/// What a change does when something holds the relay's status socket but does not answer as a
/// relay: it may be a `--restore-from` relay, stuck, that would undo the change, so the change
/// is refused (exit 2, nothing changed). Only a name nobody holds means "no relay".
@Suite("Kernel: a change while the relay's status socket gives no answer", .kernelTest)
struct RelayQueryTests {
    /// Holds the relay's status socket of table nftfwd in the namespace (in /run/nftfwd, named
    /// by the namespace) as a relay would, and misbehaves as MODE says: `silent` accepts
    /// nothing and says nothing; `partial` answers half a status and hangs up; `full` has a
    /// backlog of 0 already filled by its own connection, so a connect waits; `dropped` binds
    /// as root, then becomes uid 65534 and listens (SO_PEERCRED then names 65534, as for a
    /// daemon that drops its privileges). Writes READY once listening; exits after 60 s at most.
    static let holder = """
        import os, socket, sys, time
        mode, ready = sys.argv[1], sys.argv[2]
        st = os.stat("/proc/self/ns/net")
        os.makedirs("/run/nftfwd", mode=0o700, exist_ok=True)
        name = "/run/nftfwd/relay-%d-%d-nftfwd.sock" % (st.st_dev, st.st_ino)
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(name)
        if mode == "dropped":
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
        s.listen(0 if mode == "full" else 16)
        held = []
        if mode == "full":
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(name)
            held.append(c)
        open(ready, "w").close()
        s.settimeout(0.5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if mode != "partial":
                time.sleep(0.5)
                continue
            try:
                conn, _ = s.accept()
            except socket.timeout:
                continue
            conn.sendall(b'{"pid": 1, "ports": [')
            conn.close()
        """

    /// Starts the holder in the host namespace and waits until it listens. Returns the socket's
    /// path, which the caller removes.
    @discardableResult
    static func hold(_ lab: Lab, _ mode: String) throws -> String {
        let ready = "/tmp/\(lab.net.prefix)-holder-ready"
        unlink(ready)
        try #require(lab.net.background(lab.host, ["python3", "-c", holder, mode, ready]) != nil)
        try #require(TestNetwork.waitUntil(timeout: 10) { access(ready, F_OK) == 0 }, "the holder did not bind the name")
        unlink(ready)
        return try inNamespace(lab.host) { try StatusChannel.path(table: "nftfwd") }
    }

    @Test("a silent holder, a half answer, a full backlog: the change is refused with exit 2 within seconds, nothing changed; ls says 'not answering'",
          arguments: [("silent", "accepted the connection, but no answer within 1000 ms"),
                      ("partial", "answered 21 byte(s) that are not a whole status"),
                      ("full", "-nftfwd.sock: it did not accept the connection within 1000 ms")])
    func refused(mode: String, why: String) throws {
        let lab = try Lab(hostOnly: "rq\(mode.prefix(2))")
        var socketPath = ""
        defer { lab.destroy(); unlink(socketPath) }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        socketPath = try Self.hold(lab, mode)
        let before = try lab.ruleset()

        let started = Command.monotonicSeconds()
        // A connect that nothing bounds would hang until this timeout kills it.
        let refused = lab.net.run(lab.host, [nftfwdBinary, "add", "9090", "198.18.2.2:90"], timeout: 20)
        let took = Command.monotonicSeconds() - started
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stderr.hasPrefix("nftfwd: cannot tell whether a relay restores table inet nftfwd from a file and would undo this change: "), "\(refused.stderr)")
        #expect(refused.stderr.contains(why), "\(refused.stderr)")
        #expect(refused.stderr.contains("nothing changed"), "\(refused.stderr)")
        #expect(took < 5, "took \(took) s")
        #expect(try lab.ruleset() == before)

        let ls = try lab.nftfwdOK("ls")
        #expect(ls.stdout.contains("not answering") && !ls.stdout.contains("not running"), "\(ls.stdout)")
        #expect(ls.stderr.contains("nftfwd: the relay is not answering: "), "\(ls.stderr)")
    }

    @Test("a socket held by a process that is not root (bound as root, then uid 65534): ignored and reported by add, ls and doctor")
    func untrustedHolder() throws {
        let lab = try Lab(hostOnly: "rqnb")
        var socketPath = ""
        defer { lab.destroy(); unlink(socketPath) }
        socketPath = try Self.hold(lab, "dropped")
        let warning = "nftfwd: warning: the relay's status socket \(socketPath) is held by a process of uid 65534 (pid "
        let add = try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        #expect(add.stderr.contains(warning) && add.stderr.contains("), not by a relay run by root: ignored"), "\(add.stderr)")
        let ls = try lab.nftfwdOK("ls")
        #expect(ls.stdout.contains("not running"), "\(ls.stdout)")
        #expect(ls.stderr.contains(warning), "\(ls.stderr)")
        let doctor = try DoctorTests.doctor(lab)
        #expect(doctor.statuses("relay") == ["warn", "warn"], "\(doctor.findings)")
        #expect(doctor.messages("relay").first?.hasPrefix("the relay's status socket \(socketPath) is held by a process of uid 65534") == true, "\(doctor.findings)")
    }
}
