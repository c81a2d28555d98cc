import ArgumentParser
import HostChecks

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this host can carry the published ports, and say how to fix it.",
        discussion: """
        One line per finding, OK, WARN or FAIL, with a fix:
          nat-support      the kernel accepts nftfwd's table (tried, then rolled back)
          table            the table can be read
          ipv4-forwarding  net.ipv4.ip_forward when IPv4 mappings go through the kernel
          ipv6-forwarding  net.ipv6.conf.all.forwarding, the same for IPv6
          forward-drop     another table's forward chain with policy drop
          route-localnet   route_localnet set on an interface (unsafe)
          relay            'nftfwd relay' running when mappings need it
          targets          a TCP connect to each target (udp cannot be probed)
        Nothing is changed. It looks at the network namespace it runs in.

        Exit status: 0 everything is fine, 1 warnings, 2 failures (or the checks could \
        not run, e.g. not root).

        Examples:
          nftfwd doctor
          nftfwd doctor --json | jq '.checks[] | select(.status != "ok")'
          ip netns exec web nftfwd doctor --table web
        """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Print JSON: {\"ok\", \"status\", \"checks\": [{\"check\", \"status\", \"message\", \"fix\"}]}.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("How long the TCP probes of the targets may take, in milliseconds.", valueName: "ms"))
    var probeTimeout: Int = 1000

    func validate() throws {
        if probeTimeout < 1 || probeTimeout > 60_000 { throw ValidationError("--probe-timeout \(probeTimeout): give 1 to 60000 milliseconds") }
    }

    func run() throws {
        let findings = try Doctor(table: global.table, probeTimeoutMilliseconds: probeTimeout).run()
        Console.out(json ? Doctor.json(findings).rendered() + "\n" : Doctor.text(findings))
        switch Doctor.worst(findings) {
        case .ok: return
        case .warn: throw ExitCode(1)
        case .fail: throw ExitCode(2)
        }
    }
}
