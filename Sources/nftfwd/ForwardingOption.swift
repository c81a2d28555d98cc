import ArgumentParser
import HostChecks
import PortForwarding

/// `--enable-forwarding` for the commands that publish, and the warnings they print about
/// traffic that will not get through.
struct ForwardingOption: ParsableArguments {
    @Flag(name: .long, help: "Also set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding to 1 for the families the kernel forwards (in this network namespace, until reboot).")
    var enableForwarding = false

    /// After a successful publish: switches forwarding on if asked, then warns (stderr, one
    /// line each) about what still will not work.
    func apply(to mappings: [Mapping], table: String, command: String) throws {
        try ForwardingOption.apply(enable: enableForwarding, to: mappings, table: table, command: command)
    }

    static func apply(enable enableForwarding: Bool, to mappings: [Mapping], table: String, command: String) throws {
        if enableForwarding {
            for family in Forwarding.families(needed: mappings) where Forwarding.isEnabled(family) != true {
                do {
                    try Forwarding.enable(family)
                } catch {
                    // The publish itself stands: say so, not only what failed.
                    var failure = error
                    failure.after = "the change is made"
                    throw failure
                }
                Console.out("set \(Forwarding.setting(family))=1\n")
            }
        }
        ForwardingOption.warn(about: mappings, table: table, command: command)
    }

    static func warn(about mappings: [Mapping], table: String, command: String) {
        for line in ForwardingHints.warnings(for: mappings, ownTable: table, flagHint: "'nftfwd \(command) --enable-forwarding ...'") {
            Console.error(line)
        }
    }
}
