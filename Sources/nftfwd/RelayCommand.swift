import ArgumentParser
import PublishedRelay

struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Serve, in userland, the published ports the kernel cannot NAT.",
        discussion: """
        Runs in the foreground until SIGTERM or SIGINT. It listens for every mapping with no \
        host address (on 0.0.0.0:PORT or [::]:PORT, which also reserves the port, as \
        docker-proxy does), every mapping bound to 127.0.0.1 or ::1, and every mapping between \
        IPv6 and IPv4, and relays connections to the target (TCP with splice(2), UDP by flows). \
        Traffic from other hosts keeps going through the kernel's DNAT. It follows the table: \
        a mapping added or removed with nftfwd is served, or stops being served, within a \
        second. A port it cannot bind is reported ('nftfwd ls') and retried every second. \
        One relay per table and network namespace; contrib/systemd has a unit.

        Examples:
          nftfwd relay
          nftfwd relay --connection-limit 1000 --udp-timeout 30
          ip netns exec web nftfwd relay --table web
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("At most this many connections at once per published TCP port (further clients wait in the backlog); for UDP, flows per port.", valueName: "n"))
    var connectionLimit: Int?

    @Option(name: .long, help: ArgumentHelp("Seconds a UDP flow may stay silent before it is dropped.", valueName: "seconds"))
    var udpTimeout: Int = 90

    func validate() throws {
        if let connectionLimit, connectionLimit < 1 {
            throw ValidationError("--connection-limit \(connectionLimit): give at least 1 (or leave it out for no limit)")
        }
        if udpTimeout < 1 { throw ValidationError("--udp-timeout \(udpTimeout): give at least 1 second") }
    }

    func run() throws {
        let limits = RelayDaemon.Limits(connections: connectionLimit, udpIdle: .seconds(udpTimeout))
        let daemon = try RelayDaemon(table: global.table, limits: limits) { Console.error($0) }
        _ = try daemon.run()
    }
}
