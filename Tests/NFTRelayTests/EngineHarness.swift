import NFTRelay
import Testing
import NetworkAddress

/// A started `RelayEngine` with one listener on an ephemeral loopback port.
struct RunningRelay {
    let engine: RelayEngine
    let id: ListenerID
    let port: UInt16

    init(_ proto: ListenerSpec.TransportProtocol = .tcp, listen: String = "127.0.0.1", targetHost: String = "127.0.0.1",
         targetPort: UInt16, loops: Int = 1, events: EventLog? = nil, configure: (inout ListenerSpec) -> Void = { _ in }) throws {
        engine = try RelayEngine(loops: loops, events: events?.sink)
        var spec = ListenerSpec(proto: proto, listen: SocketAddress(listen, port: 0)!, target: SocketAddress(targetHost, port: targetPort)!)
        configure(&spec)
        id = try engine.addListener(spec)
        port = try #require(engine.stats(for: id)).boundAddress.port
        try engine.start()
    }

    var stats: ListenerStats? { engine.stats(for: id) }

    /// Waits until the relay has no active connection (all closed on its side).
    func waitIdle(timeout: Double = 5) -> Bool {
        eventually(timeout: timeout) { stats?.activeConnections == 0 }
    }

    func stop() { engine.stop() }
}
