#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

extension NFTRelayTests {
    /// nftfwd-proxy as dockerd runs it (--userland-proxy-path).
    @Suite("nftfwd-proxy, started like dockerd starts docker-proxy")
    struct DockerProxy {
        func tcpEcho(_ host: String, _ port: UInt16) -> Bool {
            let fd = TestSocket.connect(host, port)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            let payload = randomPayload(count: 100_000, seed: UInt64(port))
            let sender = TestThread { TestSocket.sendAll(fd, payload) }
            let got = TestSocket.read(fd, count: payload.count)
            sender.join()
            return got == payload
        }

        @Test("TCP: binds the host port itself, reports 0, relays, exits 0 on SIGTERM")
        func tcpBinding() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let port = TestSocket.freePort()
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "\(echo.port)"])
            #expect(proxy.status() == "0\n")
            #expect(tcpEcho("127.0.0.1", port))
            #expect(proxy.stop(SIGTERM) == 0)
        }

        @Test("TCP: serves the listening socket passed as fd 4 with -use-listen-fd")
        func tcpListenFD() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let (listener, port) = TestSocket.listen()
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "\(echo.port)", "-use-listen-fd"],
                                         listenFD: listener)
            close(listener)
            #expect(proxy.status() == "0\n")
            #expect(tcpEcho("127.0.0.1", port))
            #expect(proxy.stop(SIGINT) == 0)
        }

        @Test("IPv6 host address relays to an IPv4 container (Go flag forms --x=v, -x=v)")
        func ipv6AndGoFlagForms() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let port = TestSocket.freePort("::1")
            let proxy = try ProxyProcess(["--proto=tcp", "-host-ip=::1", "--host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "--container-port=\(echo.port)"])
            #expect(proxy.status() == "0\n")
            #expect(tcpEcho("::1", port))
            #expect(proxy.stop() == 0)
        }

        @Test("UDP: binds itself, and with -use-listen-fd serves the bound socket on fd 4", arguments: [false, true])
        func udp(useListenFD: Bool) throws {
            let echo = UDPEchoServer()
            defer { echo.stop() }
            var listenFD: Int32?
            let port: UInt16
            if useListenFD {
                let (fd, bound) = TestSocket.udp("127.0.0.1")
                listenFD = fd
                port = bound
            } else {
                port = TestSocket.freePort(udp: true)
            }
            let proxy = try ProxyProcess(["-proto", "udp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "\(echo.port)"]
                                         + (useListenFD ? ["-use-listen-fd"] : []), listenFD: listenFD)
            if let listenFD { close(listenFD) }
            #expect(proxy.status() == "0\n")
            let (client, _) = TestSocket.udp()
            defer { close(client) }
            for i in 0..<5 {
                let reply = udpExchange(client, "127.0.0.1", port, [UInt8(i), 1, 2, 3])
                #expect(reply?.0 == [UInt8(i), 1, 2, 3])
                #expect(reply?.1 == "127.0.0.1:\(port)")
            }
            #expect(proxy.stop() == 0)
        }

        @Test("run by hand without fd 3, it serves and exits 0 on SIGTERM")
        func withoutStatusPipe() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let port = TestSocket.freePort()
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "\(echo.port)"], statusPipe: false)
            #expect(proxy.status(timeout: 2) == "")
            #expect(eventually(timeout: 10) { tcpEcho("127.0.0.1", port) })
            #expect(proxy.stop() == 0)
        }

        @Test("out of fds (EMFILE): the relay neither spins nor drops the waiting clients, and says so once, not per client")
        func fdExhaustion() throws {
            let echo = EchoServer()
            defer { echo.stop() }
            let port = TestSocket.freePort()
            var template = Array("/tmp/nftfwd-proxy-stderr-XXXXXX".utf8CString)
            let logFD = mkstemp(&template)
            try #require(logFD >= 0)
            let logPath = String(cString: template)
            defer { close(logFD); unlink(logPath) }
            // 24 fds: stdio, status pipe, epoll, eventfd, signalfd, listener, a pipe pair...
            // leaves room for only a handful of relayed connections (2 fds each).
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "\(echo.port)"],
                                         wrapper: ["/usr/bin/prlimit", "--nofile=24:24", "--"], stderr: logFD)
            #expect(proxy.status() == "0\n")
            var clients: [Int32] = []
            defer { for fd in clients { close(fd) } }
            for _ in 0..<20 {
                let fd = TestSocket.connect("127.0.0.1", port)   // completes in the kernel backlog
                try #require(fd >= 0)
                TestSocket.sendAll(fd, [9])
                clients.append(fd)
            }
            // Some clients are served, the rest wait; meanwhile the proxy must stay idle.
            try #require(TestSocket.read(clients[0], count: 1) == [9])
            let cpuBefore = try #require(proxy.cpuSeconds())
            let start = monotonicNow()
            #expect(eventually(timeout: 0.5) { false } == false)   // observe for half a second
            let cpuUsed = try #require(proxy.cpuSeconds()) - cpuBefore
            let elapsed = monotonicNow() - start
            #expect(cpuUsed < 0.2 * elapsed, "the proxy used \(cpuUsed) s CPU in \(elapsed) s while out of fds")
            // As served clients leave, the waiting ones get their turn.
            var served = 1   // clients[0], read above
            close(clients.removeFirst())
            for fd in clients {
                if TestSocket.read(fd, count: 1) == [9] { served += 1 } else { break }   // 10 s timeout each: stop at the first
                close(fd)
            }
            clients.removeAll()
            #expect(served == 20)
            #expect(proxy.stop() == 0)
            // Many accepts and target sockets failed (retried every 100 ms) while clients came
            // and went: one episode (it ends only after 10 s without a failure), one line.
            let logged = Command.run(["cat", logPath]).stdout
            let lines = logged.split(separator: "\n")
            let starts = lines.filter { $0.contains("cannot open connections to the container") && $0.contains("out of descriptors") }
            #expect(starts.count == 1 && lines.count == 1, "\(logged)")
        }

        @Test("host port in use: reports 1 and the bind error, exits 1")
        func portInUse() throws {
            let (busy, port) = TestSocket.listen()
            defer { close(busy) }
            let proxy = try ProxyProcess(["-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "\(port)",
                                          "-container-ip", "127.0.0.1", "-container-port", "80"])
            let status = proxy.status()
            #expect(status == "1\nlisten tcp4 127.0.0.1:\(port): bind: address already in use")
            #expect(proxy.waitExit() == 1)
        }

        @Test("sctp is refused clearly through the status pipe")
        func sctp() throws {
            let proxy = try ProxyProcess(["-proto", "sctp", "-host-ip", "127.0.0.1", "-host-port", "9",
                                          "-container-ip", "127.0.0.1", "-container-port", "9"])
            #expect(proxy.status() == "1\nsctp is not supported by nftfwd-proxy")
            #expect(proxy.waitExit() == 1)
        }

        @Test("-v and -version print a version line and exit 0", arguments: ["-v", "-version", "--version"])
        func version(flag: String) throws {
            let proxy = try ProxyProcess([flag])
            #expect(proxy.waitExit() == 0)
            _ = proxy.status(timeout: 1)
        }
    }
}
