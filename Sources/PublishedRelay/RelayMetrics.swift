import NFTables
import PortForwarding
import Prometheus

/// What `nftfwd relay --metrics` exposes, in Prometheus' text format (swift-prometheus):
///
///     nftfwd_mapping_nat_packets_total{mapping,proto,family,kernel}  kernel counter of the mapping's elements
///     nftfwd_mapping_nat_bytes_total{...}                            (DNAT sees each connection's first packet)
///     nftfwd_relay_connections_active{mapping,listen}                relay connections open now (UDP: flows)
///     nftfwd_relay_connections_total{mapping,listen}                 relay connections since the port opened
///     nftfwd_relay_port_up{mapping,listen}                           1 while listening, 0 while it cannot be served
///     nftfwd_mappings, nftfwd_masquerade_rules                       what the table holds
///     nftfwd_table_readable                                          0 while the table cannot be read
///
/// Built afresh at each scrape from the kernel table and the relay engine's own counters, so
/// it can never disagree with `nftfwd ls` (a registry kept between scrapes would be a second
/// record of the same numbers).
enum RelayMetrics {
    static func render(status: RelayStatus, layout: TableLayout) -> String {
        var snapshot: TableSnapshot?
        if let nft = try? NFTables() {
            snapshot = try? TableReader(layout: layout, session: nft).snapshot()
        }
        return render(status: status, snapshot: snapshot, table: layout.table.name)
    }

    /// `nftfwd_<metric>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        metric.isEmpty ? MetricNameDescriptor(metricName: "nftfwd", unitName: unit, helpText: help)
            : MetricNameDescriptor(namespace: "nftfwd", metricName: metric, unitName: unit, helpText: help)
    }

    /// `snapshot` nil: the table could not be read.
    static func render(status: RelayStatus, snapshot: TableSnapshot?, table: String) -> String {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(descriptor: name("table", "readable", "1 when the table could be read for this scrape"), labels: [("table", table)]).set(Int64(snapshot == nil ? 0 : 1))
        if let snapshot {
            registry.makeGauge(descriptor: name("", "mappings", "Published mappings in the table"), labels: [("table", table)]).set(Int64(snapshot.mappings.count))
            registry.makeGauge(descriptor: name("masquerade", "rules", "Masqueraded subnets in the table"), labels: [("table", table)]).set(Int64(snapshot.masquerade.count))
            for p in snapshot.mappings {
                let labels = [("mapping", p.mapping.label), ("proto", p.mapping.proto.rawValue),
                              ("family", p.mapping.hostFamily.rawValue), ("kernel", p.mapping.isRelayOnly ? "relay-only" : "dnat")]
                registry.makeCounter(descriptor: name("mapping_nat_packets", "total", "Packets the kernel matched in the mapping's map elements (first packets of connections)"), labels: labels)
                    .increment(by: Int64(clamping: p.packets))
                registry.makeCounter(descriptor: name("mapping_nat_bytes", "total", "Bytes of the packets counted by nftfwd_mapping_nat_packets_total"), labels: labels)
                    .increment(by: Int64(clamping: p.bytes))
            }
        }
        for port in status.ports {
            let labels = [("mapping", port.mapping), ("listen", port.listen)]
            registry.makeGauge(descriptor: name("relay_connections", "active", "Connections (UDP: flows) the relay carries now"), labels: labels).set(Int64(port.active))
            registry.makeCounter(descriptor: name("relay_connections", "total", "Connections (UDP: flows) the relay accepted since the port opened"), labels: labels)
                .increment(by: Int64(port.total))
            registry.makeGauge(descriptor: name("relay_port", "up", "1 while the relay listens on the port, 0 while it cannot serve it"), labels: labels)
                .set(Int64(port.state.isListening ? 1 : 0))
        }
        return registry.emitToString()
    }
}
