import Logging
import Synchronization
import Testing
import PortForwarding
@testable import PublishedRelay

@Suite("The relay's logs and metrics")
struct RelayObservabilityTests {
    @Test("journald lines carry the syslog priority and no timestamp; terminal lines the label and level")
    func logLines() {
        let journal = RelayLogHandler(label: "nftfwd relay", journal: true, write: { _ in })
        #expect(journal.format(level: .info, message: "serving 127.0.0.1:8080/tcp", metadata: [:]) == "<6>serving 127.0.0.1:8080/tcp\n")
        #expect(journal.format(level: .warning, message: "cannot serve", metadata: ["port": "8080"]) == "<4>cannot serve port=8080\n")
        #expect(journal.format(level: .error, message: "x", metadata: [:]) == "<3>x\n")
        let terminal = RelayLogHandler(label: "nftfwd relay", journal: false, write: { _ in })
        #expect(terminal.format(level: .info, message: "serving", metadata: [:]) == "nftfwd relay: serving\n")
        #expect(terminal.format(level: .warning, message: "cannot serve", metadata: [:]) == "nftfwd relay: warning: cannot serve\n")
    }

    @Test("a logger writes through the handler, honouring its level")
    func logger() {
        let lines = LockedLines()
        var logger = Logger(label: "nftfwd relay") { RelayLogHandler(label: $0, journal: false, write: { lines.append($0) }) }
        logger.logLevel = .info
        logger.debug("hidden")
        logger.info("shown")
        #expect(lines.all == ["nftfwd relay: shown\n"])
    }

    @Test("metrics: kernel counters per mapping and relay connections per port, in Prometheus text")
    func metrics() throws {
        let mapping = try Mapping.parse(host: "8080", target: "10.88.0.2:80")
        let snapshot = TableSnapshot(exists: true, generation: 7,
                                     mappings: [PublishedMapping(mapping: mapping, map: .dnat4Any, packets: 3, bytes: 180)],
                                     masquerade: [try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0")])
        let status = RelayStatus(pid: 1, table: "nftfwd", problem: nil, ports: [
            .init(mapping: mapping.label, listen: "0.0.0.0:8080/tcp", state: "listening", active: 2, total: 5),
        ])
        let text = RelayMetrics.render(status: status, snapshot: snapshot, table: "nftfwd")
        for line in [
            #"nftfwd_table_readable{table="nftfwd"} 1.0"#,
            #"nftfwd_mappings{table="nftfwd"} 1.0"#,
            #"nftfwd_masquerade_rules{table="nftfwd"} 1.0"#,
            #"nftfwd_mapping_nat_packets_total{mapping="8080/tcp -> 10.88.0.2:80",proto="tcp",family="ipv4",kernel="dnat"} 3"#,
            #"nftfwd_mapping_nat_bytes_total{mapping="8080/tcp -> 10.88.0.2:80",proto="tcp",family="ipv4",kernel="dnat"} 180"#,
            #"nftfwd_relay_connections_active{mapping="8080/tcp -> 10.88.0.2:80",listen="0.0.0.0:8080/tcp"} 2.0"#,
            #"nftfwd_relay_connections_total{mapping="8080/tcp -> 10.88.0.2:80",listen="0.0.0.0:8080/tcp"} 5"#,
            #"nftfwd_relay_port_up{mapping="8080/tcp -> 10.88.0.2:80",listen="0.0.0.0:8080/tcp"} 1.0"#,
            "# TYPE nftfwd_relay_connections_total counter",    // gauges print as floats, counters as integers
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "missing: \(line)\n\(text)")
        }
        #expect(RelayMetrics.render(status: status, snapshot: nil, table: "nftfwd").contains(#"nftfwd_table_readable{table="nftfwd"} 0.0"#))
    }

    @Test("--metrics addresses", arguments: [("127.0.0.1:9420", "127.0.0.1:9420"), ("[::1]:9420", "[::1]:9420"), ("0.0.0.0:9100", "0.0.0.0:9100")])
    func addresses(text: String, parsed: String) throws {
        #expect(try MetricsServer.address(parsing: text).description == parsed)
    }

    @Test("bad --metrics addresses say what to give", arguments: ["9420", "localhost:9420", "127.0.0.1:0", "127.0.0.1:9420-9421"])
    func badAddresses(text: String) {
        #expect(throws: MappingError.invalid("--metrics '\(text)': give ADDRESS:PORT, e.g. 127.0.0.1:9420 or [::1]:9420")) {
            try MetricsServer.address(parsing: text)
        }
    }
}

/// Lines a test handler wrote, from any thread.
final class LockedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}
