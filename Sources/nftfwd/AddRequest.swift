import HostChecks
import PortForwarding

/// What `nftfwd add` is asked, as plain values, and the doing of it. `AddCommand` (the
/// library's parse) and `QuickAdd` (the plain forms, parsed by hand) both end here; QuickAdd
/// creates no option group at all: each of swift-argument-parser's property wrapper types
/// costs the runtime a conformance check on first use, a fifth of an add's instructions.
struct AddRequest: Equatable {
    var host: String
    var target: String
    var proto = "tcp"
    var comment = ""
    var allow: [String] = []
    var proxyProtocol: String?
    var table = "nftfwd"
    var verbose = false
    var save = false
    var enableForwarding = false

    init(host: String, target: String) {
        self.host = host
        self.target = target
    }

    init(_ c: AddCommand) {
        host = c.host; target = c.target; proto = c.proto; comment = c.comment; allow = c.allow
        proxyProtocol = c.proxyProtocol; table = c.global.table; verbose = c.global.verbose
        save = c.saving.save; enableForwarding = c.forwarding.enableForwarding
    }

    func run() throws {
        let mapping = try Mapping.parse(host: host, target: target, proto: proto, comment: comment).allowing(allow)
            .proxying(try proxyProtocol.map { (text) throws(MappingError) in try ProxyProtocol.parse(text) })
        switch try Persistence.change(table: table, verbose: verbose, save: save, { try $0.add(mapping) }) {
        case .added:
            GlobalOptions.note("added \(mapping.host.ports.count) element(s) to map \(TableLayout.map(for: mapping).rawValue)", verbose: verbose)
            Console.out("published \(mapping)\n")
        case .alreadyPublished:
            Console.out("already published: \(mapping)\n")
        }
        try ForwardingOption.apply(enable: enableForwarding, to: [mapping], table: table, command: "add")
        // A target no route leads to (a typo'd address) is published as asked, and said so.
        for finding in BridgeTraps.findings(for: [mapping]) where finding.check == .targetRoute && finding.status == .warn {
            Console.error("nftfwd: warning: " + finding.message)
        }
    }
}
