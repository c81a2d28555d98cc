import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `nftfwd relay --metrics`: what Prometheus scrapes matches the traffic that went through.
@Suite("Kernel: the relay's Prometheus endpoint", .kernelTest)
struct RelayMetricsTests {
    @Test("after traffic, the kernel's and the relay's counters show up per mapping; other paths get 404")
    func scrape() throws {
        let lab = try Lab("mtr")
        defer { lab.destroy() }
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        let log = "/tmp/\(lab.net.prefix)-relay.log"
        let relay = try #require(lab.net.background(lab.host, [nftfwdBinary, "relay", "--metrics", "127.0.0.1:9420"], log: log))
        func scrape(_ path: String = "/metrics") -> CommandResult {
            lab.net.run(lab.host, ["curl", "-sS", "--max-time", "3", "-w", "\n%{http_code}", "http://127.0.0.1:9420\(path)"], timeout: 10)
        }
        #expect(TestNetwork.waitUntil(timeout: 10) { scrape().stdout.contains("nftfwd_relay_port_up{mapping=\"8080/tcp -> 198.18.2.2:80\",listen=\"0.0.0.0:8080/tcp\"} 1.0") })

        #expect(lab.ask(from: lab.client, "tcp", "198.18.1.1", 8080) == "tcp 80 from 198.18.1.2")   // kernel DNAT
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 198.18.2.1")     // the relay
        #expect(lab.ask(from: lab.host, "tcp", "127.0.0.1", 8080) == "tcp 80 from 198.18.2.1")
        let text = scrape().stdout
        let lines = text.split(separator: "\n").map(String.init)
        // 3: the DNAT connection and the two loopback ones, which the loopback chain looks up in
        // the same map element (a lookup counts) before the relay serves them.
        #expect(lines.contains(#"nftfwd_mapping_nat_packets_total{mapping="8080/tcp -> 198.18.2.2:80",proto="tcp",family="ipv4",kernel="dnat"} 3"#), "\(text)")
        #expect(lines.contains(#"nftfwd_relay_connections_total{mapping="8080/tcp -> 198.18.2.2:80",listen="0.0.0.0:8080/tcp"} 2"#), "\(text)")
        #expect(lines.contains(#"nftfwd_mappings{table="nftfwd"} 1.0"#))
        #expect(lines.last == "200")
        #expect(scrape("/").stdout.hasSuffix("\n404"))

        kill(relay, SIGTERM)
        #expect(Command.wait(pid: relay, timeout: 10) == 0)
        let logged = try lab.net.exec(lab.host, ["cat", log]).stdout
        #expect(logged.contains("nftfwd relay: serving Prometheus metrics on http://127.0.0.1:9420/metrics"))
    }
}
