import NFTables
import NFTRelay
import PortForwarding
import NetworkAddress

/// The relay's side of the table's loopback redirect (`TableLayout+Redirect`): a TCP and a
/// UDP socket on 127.0.0.1 and on ::1, at ports the system picks, whose ports the relay
/// writes into `redirect4`/`redirect6` while it serves, and the routes from each original
/// destination to its target. Its cost does not grow with the number of published ports:
/// four descriptors (and the conntrack socket UDP asks through) and one route per port.
final class LoopbackRedirect: Sendable {
    /// TCP clients' routes (found by SO_ORIGINAL_DST) and UDP clients' (by their conntrack entry).
    let routes: RedirectRoutes
    let udpRoutes: RedirectRoutes
    let engine: RelayEngine
    let listeners: [(family: AddressFamily, proto: ListenerSpec.TransportProtocol, id: ListenerID, port: UInt16)]

    /// `adopting`: a socket a relay we took over from handed over for that protocol and
    /// address (port 0: any), used instead of binding anew (see LoopbackRedirect+Takeover);
    /// `routes` are served from the start then, since clients arrive at once.
    init(engine: RelayEngine, limits: RelayDaemon.Limits, routes first: [Mapping] = [],
         adopting: (ListenerSpec.TransportProtocol, SocketAddress) -> (fd: Int32, flows: [UDPFlowHandover])? = { _, _ in nil }) throws {
        self.engine = engine
        // Routes before sockets: a handed-over socket's clients (and flows) arrive at once.
        let tcp = RedirectRoutes(), udp = RedirectRoutes(destinations: try ConntrackDestinations())
        tcp.replace(with: first.filter { $0.proto == .tcp }.compactMap(Self.range))
        udp.replace(with: first.filter { $0.proto == .udp }.compactMap(Self.range))
        routes = tcp
        udpRoutes = udp
        var listeners: [(family: AddressFamily, proto: ListenerSpec.TransportProtocol, id: ListenerID, port: UInt16)] = []
        for proto in [ListenerSpec.TransportProtocol.tcp, .udp] {
            for (family, address) in [(AddressFamily.ipv4, IPAddress.loopbackIPv4), (.ipv6, .loopbackIPv6)] {
                let listen = SocketAddress(ip: address, port: 0)
                var spec = ListenerSpec(proto: proto, listen: listen, target: listen, connectionLimit: limits.connections,
                                        udpIdleTimeout: limits.udpIdle, tcpIdleTimeout: limits.tcpIdle, perSourceLimit: limits.perSource,
                                        redirect: proto == .tcp ? routes : udpRoutes)
                let adopted = adopting(spec.proto, listen)
                spec.preopenedFD = adopted?.fd
                spec.adoptedFlows = adopted?.flows ?? []
                let id: ListenerID
                do {
                    id = try Self.add(spec, to: engine)
                } catch {
                    for opened in listeners { engine.removeListener(opened.id) }
                    throw error
                }
                let port = engine.stats(for: id)?.boundAddress.port ?? 0
                listeners.append((family, proto, id, port))
            }
        }
        self.listeners = listeners
    }

    /// A redirect listener as the log names it.
    func name(of id: ListenerID) -> String? {
        listeners.first { $0.id == id }.map { "\($0.family == .ipv4 ? "127.0.0.1" : "[::1]"):\($0.port)/\($0.proto.rawValue) (the loopback redirect)" }
    }

    /// Where the redirect sockets listen, for the log.
    var description: String {
        listeners.map { "\($0.family == .ipv4 ? "127.0.0.1" : "[::1]"):\($0.port)/\($0.proto.rawValue)" }.joined(separator: ", ")
    }

    /// Serves `mappings` (the redirected ones) from now on: one route range each.
    func serve(_ mappings: [Mapping]) {
        routes.replace(with: mappings.filter { $0.proto == .tcp }.compactMap(Self.range))
        udpRoutes.replace(with: mappings.filter { $0.proto == .udp }.compactMap(Self.range))
    }

    static func range(_ mapping: Mapping) -> RedirectRoutes.Range? {
        guard let target = mapping.target.address else { return nil }
        return RedirectRoutes.Range(listen: mapping.host.address ?? .unspecified(mapping.hostFamily), ports: mapping.host.ports.ports,
                                    target: target, targetFirstPort: mapping.target.ports.first, allowedSources: mapping.allow)
    }

    /// Connections open, made and refused through `mapping`'s range.
    func counts(of mapping: Mapping) -> (active: Int, total: Int, refused: Int) {
        (mapping.proto == .udp ? udpRoutes : routes).counts(listen: mapping.host.address ?? .unspecified(mapping.hostFamily),
                                                            first: mapping.host.ports.first)
    }

    /// The elements the maps must hold while this relay serves: per family, TCP and UDP.
    private var wanted: [(map: TableLayout.RedirectMap, element: Element)] {
        listeners.map { (TableLayout.RedirectMap.of($0.family), TableLayout.redirectElement(proto: $0.proto == .tcp ? .tcp : .udp, port: $0.port)) }
    }

    /// Makes `redirect4`/`redirect6` name our sockets (one batch, only when they do not yet:
    /// a table recreated or a relay that died before us left others). The generation our
    /// batch made when it wrote them (exactly `generation` + 1), nil when nothing was written.
    func claim(nft: any NFTablesSession, table: TableSpec, generation: UInt32) throws -> UInt32? {
        var batch = Batch(table: table)
        var changed = false
        for map in TableLayout.RedirectMap.allCases {
            let want = wanted.filter { $0.map == map }.map(\.element)
            let have = try nft.elements(of: table, map: map.rawValue)
            let same = have.count == want.count && want.allSatisfy { w in have.contains { $0.key == w.key && $0.value == w.value } }
            if same { continue }
            for record in have {
                batch.deleteElement(Element(key: record.key), from: map.rawValue, describedAs: "delete element of \(map.rawValue)")
            }
            for element in want {
                batch.addElement(element, to: map.rawValue, describedAs: "add element \(element.key) : \(element.value) to \(map.rawValue)")
            }
            changed = true
        }
        return changed ? try nft.commit(batch, expectingGeneration: generation) : nil
    }

    /// Takes our elements out (at a clean stop), so nothing is redirected to closed sockets.
    func release(nft: any NFTablesSession, table: TableSpec) {
        var batch = Batch(table: table)
        var any = false
        var listed: [TableLayout.RedirectMap: [ElementRecord]] = [:]
        for (map, element) in wanted {
            guard let have = try? listed[map] ?? nft.elements(of: table, map: map.rawValue) else { continue }
            listed[map] = have
            guard have.contains(where: { $0.key == element.key && $0.value == element.value }) else { continue }
            batch.deleteElement(Element(key: element.key), from: map.rawValue, describedAs: "delete element of \(map.rawValue)")
            any = true
        }
        if any { _ = try? nft.commit(batch, expectingGeneration: nil) }
    }
}
