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
    /// Holds @nftfwd-relay/nftfwd in the namespace as a relay would, and misbehaves as MODE
    /// says: `silent` accepts nothing and says nothing; `partial` answers half a status and
    /// hangs up; `full` has a backlog of 0 already filled by its own connection, so a connect
    /// waits. Writes READY once bound; exits after 60 s at most.
    static let holder = """
        import socket, sys, time
        mode, ready = sys.argv[1], sys.argv[2]
        name = "\\0nftfwd-relay/nftfwd"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(name)
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

    /// Starts the holder in the host namespace (as `user`, if given) and waits until it is bound.
    static func hold(_ lab: Lab, _ mode: String, as user: String? = nil) throws {
        let ready = "/tmp/\(lab.net.prefix)-holder-ready"
        unlink(ready)
        // Debian's own python3 for another user: root's PATH may lead to an interpreter it cannot run.
        let argv = user.map { ["setpriv", "--reuid=\($0)", "--regid=\($0)", "--clear-groups", "/usr/bin/python3"] } ?? ["python3"]
        try #require(lab.net.background(lab.host, argv + ["-c", holder, mode, ready]) != nil)
        try #require(TestNetwork.waitUntil(timeout: 10) { access(ready, F_OK) == 0 }, "the holder did not bind the name")
        unlink(ready)
    }

    @Test("a silent holder, a half answer, a full backlog: the change is refused with exit 2 within seconds, nothing changed; ls says 'not answering'",
          arguments: [("silent", "accepted the connection, but no answer within 1000 ms"),
                      ("partial", "answered 21 byte(s) that are not a whole status"),
                      ("full", "@nftfwd-relay/nftfwd: it did not accept the connection within 1000 ms")])
    func refused(mode: String, why: String) throws {
        let lab = try Lab(hostOnly: "rq\(mode.prefix(2))")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try Self.hold(lab, mode)
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

    @Test("a name held by another user than root is no relay root runs: the change goes ahead; ls says 'not running' and why")
    func untrustedHolder() throws {
        let lab = try Lab(hostOnly: "rqnb")
        defer { lab.destroy() }
        try Self.hold(lab, "silent", as: "65534")
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let ls = try lab.nftfwdOK("ls")
        #expect(ls.stdout.contains("not running"), "\(ls.stdout)")
        #expect(ls.stderr.contains("is held by a process of uid 65534, not by a relay run by root: ignored"), "\(ls.stderr)")
    }
}
