import ArgumentParser
import Logging
import PortForwarding
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
        One relay per table and network namespace; contrib/systemd has a unit. Its status \
        socket, which 'nftfwd ls' reads, is in /run/nftfwd (root's alone): the relay runs \
        as root and answers root only.

        Logs go to standard error, one line per event; under systemd each line carries its \
        syslog priority for the journal. --metrics serves Prometheus metrics (kernel counters \
        per mapping, relay connections per port) at http://ADDRESS:PORT/metrics.

        --restore-from FILE also keeps the table equal to FILE (a file 'nftfwd save' \
        wrote): when the table disappears ('nft flush ruleset', a firewall reload), differs \
        from FILE, or was changed outside nftfwd, the relay applies FILE in one batch within \
        a second and logs one line saying what it restored. FILE is then the desired state: \
        change the table with --save (add, rm, apply, flush, restore, masquerade add/rm), \
        which writes FILE too; without it those commands are refused (exit 1, nothing \
        changed) while such a relay runs, since it would undo them. A rewritten FILE (or \
        SIGHUP) is applied at once. Should a restore not take (the table read back right \
        after it still differs), the relay logs an error and tries again after 10 s, when \
        FILE changes, or on SIGHUP, rather than rewriting the table at every poll.

        --loopback-redirect serves loopback TCP and UDP clients (127.0.0.1, ::1) of \
        published ports without a socket per port: the table's loopback chain redirects \
        them to a TCP and a UDP relay socket per family, which learn where each client meant \
        to go (SO_ORIGINAL_DST for TCP, the conntrack entry of a new UDP flow), so 60,000 \
        published ports cost about 25 descriptors, and a port another program holds \
        (podman's conmon holds every port it publishes) is still served. Such a port is then \
        not reserved: another program may bind it, and gets no loopback client of it. \
        IPv4-IPv6 and PROXY-protocol mappings keep a socket per port, and so does UDP on a \
        table of layout 0.4 until its next change. Not the default yet: while the table is \
        being restored, a redirected port refuses connections, where a port's own socket \
        keeps serving.

        --replace upgrades or restarts a running relay without refusing a connection: the \
        new relay takes the running one's listening sockets (SCM_RIGHTS over a root-only \
        socket in /run/nftfwd) and serves them at once; the old one stops accepting, lets \
        its open TCP connections run to their end for at most the new relay's --drain-timeout seconds \
        (default 60), hands over its status socket and exits 0. Its UDP flows are handed \
        over too (the target sees the same client port before and after), and so are the \
        --loopback-redirect sockets (same ports). Without a running \
        relay, --replace just starts; if the takeover fails, the old relay serves on. \
        'systemctl reload nftfwd-relay' does this (the unit runs 'relay --replace --detach' \
        with its options; --detach returns once the new relay serves, and under systemd \
        the new relay tells systemd it is the unit's main process), so a package upgrade \
        is: install the new binary, then reload.

        Every local user can reach the relayed ports, so the relay limits what one client \
        can take. Always: TCP keepalive on both legs (first probe after 60 s of silence, \
        then 6 probes 10 s apart, so a vanished peer frees its connection within 2 \
        minutes); a bulk transfer yields to the other connections after every 1 MiB; a \
        full UDP flow table gives up the oldest flow of the client address with the most \
        flows, so a client opening thousands of flows recycles only its own. Optional: \
        --idle-timeout resets a TCP connection that moved no byte either way for that long; \
        --per-source-limit caps what one client address (any port) holds per published \
        port: further TCP connections are reset at once, and a new UDP flow replaces that \
        client's own oldest. Running out of local ports or descriptors towards a target, \
        and a client hitting its limit, are logged once when it starts and once when it \
        ends (with a count), never per connection.

        Examples:
          nftfwd relay
          nftfwd relay --connection-limit 1000 --udp-timeout 30
          nftfwd relay --per-source-limit 64 --idle-timeout 3600
          nftfwd relay --metrics 127.0.0.1:9420
          nftfwd relay --restore-from /etc/nftfwd/mappings.json
          nftfwd relay --replace --drain-timeout 30
          ip netns exec web nftfwd relay --table web
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("At most this many connections at once per published TCP port (further clients wait in the backlog); for UDP, flows per port.", valueName: "n"))
    var connectionLimit: Int?

    @Option(name: .long, help: ArgumentHelp("Seconds a UDP flow may stay silent before it is dropped.", valueName: "seconds"))
    var udpTimeout: Int = 90

    @Option(name: .long, help: ArgumentHelp("Reset a relayed TCP connection that moved no byte either way for this many seconds (default: never; keepalive still ends dead ones).", valueName: "seconds"))
    var idleTimeout: Int?

    @Option(name: .long, help: ArgumentHelp("At most this many TCP connections (or UDP flows) per client address on each published port (default: no limit); see above.", valueName: "n"))
    var perSourceLimit: Int?

    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics on ADDRESS:PORT (e.g. 127.0.0.1:9420; none without it). Whoever reaches that address reads every relayed mapping, its port, target and counters: keep it on loopback unless a firewall limits who can.", valueName: "address:port"))
    var metrics: String?

    @Option(name: .long, help: ArgumentHelp("Least important messages logged: debug, info, notice, warning or error.", valueName: "level"))
    var logLevel: String = "info"

    @Option(name: .long, help: ArgumentHelp("Keep the table equal to this saved file (see above); it must be readable at start.", valueName: "file"))
    var restoreFrom: String?

    @Flag(name: .long, help: ArgumentHelp("Serve loopback TCP and UDP clients of published ports through the kernel's redirect to four relay sockets instead of a listening socket per port (see above)."))
    var loopbackRedirect = false

    @Flag(name: .long, help: "Take over from the relay serving this table here, if one runs: it hands over its listening sockets, stops accepting and drains (see above).")
    var replace = false

    @Option(name: .long, help: ArgumentHelp("With --replace, the relay taken over from lets its open connections run this long at most before it exits.", valueName: "seconds"))
    var drainTimeout: Int = 60

    @Flag(name: .long, help: "Return once the relay serves, leaving it running in the background (what the systemd unit's reload runs: relay --replace --detach).")
    var detach = false

    func validate() throws {
        if Logger.Level(rawValue: logLevel) == nil || logLevel == "trace" || logLevel == "critical" {
            throw ValidationError("--log-level \(logLevel): use debug, info, notice, warning or error")
        }
        if let metrics {
            do { _ = try MetricsServer.address(parsing: metrics) } catch { throw ValidationError(error.description) }
        }
        if let connectionLimit, connectionLimit < 1 {
            throw ValidationError("--connection-limit \(connectionLimit): give at least 1 (or leave it out for no limit)")
        }
        if udpTimeout < 1 { throw ValidationError("--udp-timeout \(udpTimeout): give at least 1 second") }
        if let idleTimeout, idleTimeout < 1 {
            throw ValidationError("--idle-timeout \(idleTimeout): give at least 1 second (or leave it out for none)")
        }
        if let perSourceLimit, perSourceLimit < 1 {
            throw ValidationError("--per-source-limit \(perSourceLimit): give at least 1 (or leave it out for no limit)")
        }
        if drainTimeout < 0 { throw ValidationError("--drain-timeout \(drainTimeout): give 0 or more seconds") }
        if restoreFrom == "-" { throw ValidationError("--restore-from needs a file the relay can read again: not -") }
    }

    func run() throws {
        // First, while nothing else runs: fork() keeps only the calling thread.
        let servedPipe = detach ? Detach.intoBackground() : nil
        let limits = RelayDaemon.Limits(connections: connectionLimit, udpIdle: .seconds(udpTimeout),
                                        tcpIdle: idleTimeout.map { .seconds($0) }, perSource: perSourceLimit)
        let address = try metrics.map { try MetricsServer.address(parsing: $0) }
        let logger = Logger.relay(level: Logger.Level(rawValue: logLevel) ?? .info)
        let daemon = try RelayDaemon(table: global.table, limits: limits, metrics: address, restoreFrom: restoreFrom,
                                     replace: replace, drainTimeout: Double(drainTimeout), logger: logger,
                                     loopbackRedirect: loopbackRedirect)
        daemon.notifier = SystemdNotifier.fromEnvironment()
        if let servedPipe { daemon.onServing = { Detach.served(servedPipe) } }
        _ = try daemon.run()
    }
}
