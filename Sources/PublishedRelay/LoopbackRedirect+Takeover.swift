import NFTables
import NFTRelay
import PortForwarding
import NetworkAddress
import SystemCalls

/// The loopback redirect across `relay --replace`: its sockets are handed over with the
/// per-port ones (one `redirect PROTO ADDRESS` manifest line each, whatever their number and
/// protocols), so the successor accepts from the very sockets whose ports `redirect4` and
/// `redirect6` name, and a loopback client of a redirected port is never refused. The maps
/// are the successor's from its confirmation on: it leaves them as they are when it adopts
/// the sockets (same ports), takes their elements out when it does not (`release(handed:)`),
/// and the relay that handed over never touches them again.
extension LoopbackRedirect {
    /// Adds one redirect listener; a handed-over socket the engine refuses is closed here
    /// (the handover gave it to us, and binding anew is what follows).
    static func add(_ spec: ListenerSpec, to engine: RelayEngine) throws(RelayError) -> ListenerID {
        do {
            return try engine.addListener(spec)
        } catch {
            if let fd = spec.preopenedFD { Posix.close(fd) }
            for flow in spec.adoptedFlows { Posix.close(flow.fd) }
            throw error
        }
    }

    /// The manifest line of a redirect socket, nil for another listener.
    func handedSocket(for id: ListenerID) -> HandedSocket? {
        guard listeners.contains(where: { $0.id == id }), let stats = engine.stats(for: id) else { return nil }
        return HandedSocket(role: .redirect, proto: stats.spec.proto, listen: stats.boundAddress)
    }

    /// Our successor accepts from the redirect sockets now: we stop (closing our copies only);
    /// the connections already accepted run to their end.
    func stopAccepting() {
        for listener in listeners { engine.removeListener(listener.id, graceful: true) }
    }

    /// Of `handed`, the redirect socket for `proto` on `listen`'s address (any port), if any.
    static func handed(_ handed: [HandedSocket], _ proto: ListenerSpec.TransportProtocol, _ listen: SocketAddress) -> HandedSocket? {
        handed.first { $0.role == .redirect && $0.proto == proto && $0.listen.ip == listen.ip }
    }

    /// Takes out of the table the elements naming redirect sockets handed over to us that we
    /// did not adopt (they close with the relay we replace): loopback clients then reach
    /// the per-port sockets instead of refused ports. One batch.
    static func release(handed: [HandedSocket], nft: any NFTablesSession, table: TableSpec) throws {
        var batch = Batch(table: table)
        var any = false
        var listed: [String: [ElementRecord]] = [:]   // each map read once, however many sockets name it
        for socket in handed where socket.role == .redirect {
            let map = TableLayout.RedirectMap.of(socket.listen.family)
            let element = TableLayout.redirectElement(proto: socket.proto == .tcp ? .tcp : .udp, port: socket.listen.port)
            let have = try listed[map.rawValue] ?? nft.elements(of: table, map: map.rawValue)
            listed[map.rawValue] = have
            guard have.contains(where: { $0.key == element.key && $0.value == element.value }) else { continue }
            batch.deleteElement(Element(key: element.key), from: map.rawValue, describedAs: "delete element of \(map.rawValue)")
            any = true
        }
        if any { _ = try nft.commit(batch, expectingGeneration: nil) }
    }
}
