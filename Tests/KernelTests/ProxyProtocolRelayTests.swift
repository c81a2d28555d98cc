import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `--proxy-protocol`: the relay serves every client of such a mapping (no DNAT element) and
/// starts each connection to the target with a PROXY header; the target here is netpeer.py's
/// `proxyserve`, a consumer that parses the header and answers with what it read.
@Suite("Kernel: PROXY protocol through the relay", .kernelTest)
struct ProxyProtocolRelayTests {
    @Test("the target reads the client's address and port and the address it connected to, then the client's bytes unchanged")
    func headerNamesTheClient() throws {
        let lab = try Lab("ppr")
        defer { lab.destroy() }
        let ready = "/tmp/\(lab.net.prefix)-proxy-ready"
        unlink(ready)
        lab.net.background(lab.target, ["python3", netpeer, "proxyserve", "7000", ready])
        #expect(TestNetwork.waitUntil(timeout: 15) { access(ready, F_OK) == 0 })
        unlink(ready)

        try lab.nftfwdOK("add", "8080", "198.18.2.2:7000", "--proxy-protocol", "v1")
        try lab.nftfwdOK("add", "[::]:8081", "198.18.2.2:7000", "--proxy-protocol", "v2")      // cross-family
        try lab.nftfwdOK("add", "8082", "[2001:db8:2::2]:7000", "--proxy-protocol", "v2")
        #expect(lab.nftfwd("add", "8083", "198.18.2.2:7000", "--proto", "udp", "--proxy-protocol", "v1").status == 1)
        // No DNAT element: the kernel path does not know these ports.
        let dnat = try lab.net.exec(lab.host, ["nft", "list", "map", "inet", "nftfwd", "dnat4_any"]).stdout
        #expect(!dnat.contains("8080"))
        #expect(try lab.table().contains("0.0.0.0 . tcp . 8080"))
        let listed = try lab.nftfwdOK("ls").stdout
        #expect(listed.contains("relay:proxy-v1"))

        _ = try RelayTests.startRelay(lab)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 3 })

        // (from namespace, to address, port, expected version and family word, server's address)
        let cases: [(String, String, Int, String, String)] = [
            (lab.host, "127.0.0.1", 8080, "v1", "TCP4"),
            (lab.client, "198.18.1.1", 8080, "v1", "TCP4"),          // a remote client reaches the relay too
            (lab.host, "::1", 8081, "v2", "AF_INET6"),
            (lab.client, "2001:db8:1::1", 8081, "v2", "AF_INET6"),   // IPv6 client, IPv4 target
            (lab.client, "2001:db8:1::3", 8082, "v2", "AF_INET6"),
        ]
        for (ns, address, port, version, family) in cases {
            let r = lab.net.run(ns, ["python3", netpeer, "proxysend", address, "\(port)", "200000"], timeout: 20)
            let lines = r.stdout.split(separator: "\n").map(String.init)
            try #require(lines.count == 2, "\(address):\(port): \(r.stdout) \(r.stderr)")
            let sent = lines[0].split(separator: " ")        // local address, local port, length, hash
            try #require(sent.count == 4)
            let expected = [version, family, String(sent[0]), String(sent[1]), address, "\(port)", String(sent[2]), String(sent[3])]
            #expect(lines[1] == expected.joined(separator: " "), "\(address):\(port)")
        }
    }

    /// nginx's `listen ... proxy_protocol` refuses a connection without a valid header, and
    /// `$proxy_protocol_*` print what it read: a consumer nftfwd's code had no hand in.
    @Test("nginx, listening with proxy_protocol, reads the client's address from v1 and v2 headers")
    func nginxConsumer() throws {
        let lab = try Lab("ppn")
        defer { lab.destroy() }
        let dir = "/tmp/\(lab.net.prefix)-nginx"
        try lab.net.exec(lab.host, ["sh", "-c", "rm -rf \(dir) && mkdir -p \(dir)"])
        defer { _ = lab.net.run(lab.host, ["rm", "-rf", dir]) }
        let conf = """
        daemon off; pid \(dir)/nginx.pid; error_log \(dir)/error.log; worker_processes 1;
        events { worker_connections 64; }
        http {
          access_log off; client_body_temp_path \(dir); proxy_temp_path \(dir); fastcgi_temp_path \(dir);
          uwsgi_temp_path \(dir); scgi_temp_path \(dir);
          server {
            listen [::]:7001 ipv6only=off proxy_protocol;
            location / { return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port\\n"; }
          }
        }
        """
        try lab.net.exec(lab.host, ["sh", "-c", "cat > \(dir)/nginx.conf"], stdin: conf)
        lab.net.background(lab.target, ["nginx", "-c", "\(dir)/nginx.conf", "-p", dir], log: "\(dir)/stderr.log")
        #expect(TestNetwork.waitUntil(timeout: 15) {
            lab.net.run(lab.target, ["curl", "-s", "-o", "/dev/null", "--max-time", "1", "http://198.18.2.2:7001/"]).status == 52
        }, "nginx did not listen (curl without a header gets an empty reply, exit 52)")

        try lab.nftfwdOK("add", "8080", "198.18.2.2:7001", "--proxy-protocol", "v1")
        try lab.nftfwdOK("add", "[::]:8081", "198.18.2.2:7001", "--proxy-protocol", "v2")
        _ = try RelayTests.startRelay(lab)
        #expect(TestNetwork.waitUntil(timeout: 5) { RelayTests.status(lab)?.ports.count == 2 })

        for (ns, url, client, server) in [
            (lab.client, "http://198.18.1.1:8080/", "198.18.1.2", "198.18.1.1 8080"),
            (lab.host, "http://127.0.0.1:8080/", "127.0.0.1", "127.0.0.1 8080"),
            (lab.client, "http://[2001:db8:1::1]:8081/", "2001:db8:1::2", "2001:db8:1::1 8081"),
        ] {
            let r = lab.net.run(ns, ["curl", "-s", "--max-time", "5", "-w", " %{local_port}", url], timeout: 20)
            let words = r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            try #require(words.count == 5, "\(url): \(r.stdout) \(r.stderr)")
            #expect(words[0] == client, "\(url)")
            #expect(words[1] == words[4], "\(url): the client's port")
            #expect(words[2...3].joined(separator: " ") == server, "\(url)")
        }
    }
}
