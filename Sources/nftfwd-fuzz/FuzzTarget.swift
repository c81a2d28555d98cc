@_spi(Fuzzing) import NFTables
import IptablesImport
import PortForwarding
import ProxyCommandLine
import NetworkAddress

/// The parsers of untrusted input, each fed one fuzzer input. A target returns normally for
/// any input its parser refuses; it traps (which libFuzzer reports as a crash) when a parser
/// crashes or when an input it accepted breaks a property the rest of nftfwd relies on, such
/// as "what `ls --json` prints, `apply` reads back the same".
enum FuzzTarget: String, CaseIterable {
    /// JSON.parse; what it accepts must print and parse back to the same value.
    case json
    /// StateDocument.parse (what `apply` and `relay --restore-from` read), MappingFile.parse.
    case state
    /// Mapping.parse, Endpoint.parse, Subnet.parse, MasqueradeRule.parse on NUL-separated
    /// fields; what they accept must read back the same from its own printed form.
    case mapping
    /// IptablesImport.read; the document it makes must read back the same through `apply`'s reader.
    case iptables
    /// docker-proxy's command line (ProxyOptions.parse) on NUL-separated arguments.
    case proxyflags
    /// Kernel replies as raw datagrams, read by nftfwd's own code: the framing, NLMSG_ERROR and
    /// its extended ACK, ctnetlink entries, and the checks nf_tables messages pass before libnftnl.
    case netlink
    /// The same datagrams through libnftnl's readers too (chains, sets, rules, elements,
    /// generation). Slow: each input first runs in a child process (see `netlink(_:libnftnl:)`).
    case nftnl
    /// ctnetlink dump replies as raw datagrams, and what is printed of each entry.
    case conntrack

    func run(_ bytes: [UInt8]) {
        switch self {
        case .json: FuzzTarget.json(bytes)
        case .state: FuzzTarget.state(bytes)
        case .mapping: FuzzTarget.mapping(bytes)
        case .iptables: FuzzTarget.iptables(bytes)
        case .proxyflags: FuzzTarget.proxyflags(bytes)
        case .netlink, .conntrack: FuzzTarget.netlink(bytes, libnftnl: false)
        case .nftnl: FuzzTarget.netlink(bytes, libnftnl: true)
        }
    }

    /// Input bytes as the CLI would read them from a file (invalid UTF-8 repaired).
    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// NUL-separated fields, as many as `count` (the last one keeps any further NULs).
    private static func fields(_ bytes: [UInt8], _ count: Int) -> [String] {
        bytes.split(separator: 0, maxSplits: count - 1, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func json(_ bytes: [UInt8]) {
        guard let value = try? JSON.parse(text(bytes)) else { return }
        let printed = value.rendered()
        guard let again = try? JSON.parse(printed) else { fatalError("JSON printed a value it cannot read: \(printed)") }
        precondition(again == value, "JSON read back another value: \(printed)")
    }

    private static func state(_ bytes: [UInt8]) {
        let input = text(bytes)
        let document = try? StateDocument.parse(input)
        let mappings = try? MappingFile.parse(input)
        precondition(document?.mappings == mappings, "MappingFile.parse and StateDocument.parse disagree")
        for mapping in document?.mappings ?? [] { checkRoundTrip(mapping) }
    }

    private static func mapping(_ bytes: [UInt8]) {
        let f = fields(bytes, 4)
        let host = f[0], target = f.count > 1 ? f[1] : "", proto = f.count > 2 ? f[2] : "tcp", comment = f.count > 3 ? f[3] : ""
        if let mapping = try? Mapping.parse(host: host, target: target, proto: proto, comment: comment) {
            checkRoundTrip(mapping)
        }
        if let endpoint = try? Endpoint.parse(host, what: "host") {
            precondition((try? Endpoint.parse(endpoint.description, what: "host")) == endpoint,
                         "endpoint '\(endpoint)' does not read back")
        }
        // NetworkAddress: the strict grammar agrees with Endpoint's, reads back, and the inline
        // words round-trip through bytes; docker-proxy's lenient form takes what the strict takes.
        if let socket = SocketAddress(parsing: host) {
            let endpoint = try? Endpoint.parse(host, what: "host")
            precondition(endpoint?.address == socket.ip && endpoint?.ports == PortRange(socket.port),
                         "SocketAddress(parsing:) and Endpoint.parse disagree on '\(host)'")
            precondition(SocketAddress(parsing: socket.description) == socket, "socket address '\(socket)' does not read back")
        }
        if let address = IPAddress(host) {
            precondition(IPAddress(bytes: address.bytes) == address && IPAddress(address.description) == address,
                         "address '\(address)' does not round-trip")
            precondition(IPAddress(dockerProxy: host) == address, "docker-proxy's form refuses strict '\(host)'")
        }
        if let subnet = try? Subnet.parse(host) {
            precondition((try? Subnet.parse(subnet.description)) == subnet, "subnet '\(subnet)' does not read back")
            _ = subnet.last
            _ = subnet.next
        }
        if let rule = try? MasqueradeRule.parse(subnet: host, outNot: f.count > 1 ? target : nil) {
            precondition((try? MasqueradeRule.parse(subnet: rule.subnet.description, outNot: rule.outNot)) == rule,
                         "masquerade rule '\(rule)' does not read back")
        }
    }

    /// What `ls --json` and `save` print of a mapping (host, target, proto, comment), `apply`
    /// and `relay --restore-from` must read back as the same mapping.
    private static func checkRoundTrip(_ mapping: Mapping) {
        let again = try? Mapping.parse(host: mapping.hostText, target: mapping.target.description,
                                       proto: mapping.proto.rawValue, comment: mapping.comment)
        precondition(again == mapping, "mapping '\(mapping)' does not read back from its printed form")
    }

    private static func iptables(_ bytes: [UInt8]) {
        guard let imported = try? IptablesImport.read(text(bytes)) else { return }
        _ = imported.report
        let printed = imported.documentText
        let again: StateDocument
        do { again = try StateDocument.parse(printed) } catch {
            fatalError("import printed a document apply refuses (\(error)):\n\(printed)")
        }
        precondition(again == imported.document, "import's document does not read back:\n\(printed)")
    }

    private static func proxyflags(_ bytes: [UInt8]) {
        let arguments = bytes.isEmpty ? [] : fields(bytes, 64)
        switch try? ProxyOptions.parse(arguments) {
        case .run(let spec)?: _ = "\(spec)"
        default: break
        }
    }

    private static func netlink(_ bytes: [UInt8], libnftnl: Bool) {
        #if FUZZING
        // libnftnl ends the process (exit 1, "nf_tables kernel ABI is broken") when an attribute
        // has the wrong size for its type: its own policy for a kernel that broke the ABI, not a
        // memory error. A child reads the input first; if libnftnl stopped it, the input is
        // refused, and only inputs it read end to end are read here, where coverage counts.
        if libnftnl {
            guard ChildRun.completes({ _ = NetlinkReply.decode(bytes) }) else { return }
        }
        #endif
        let decoded = NetlinkReply.decode(bytes, libnftnl: libnftnl)
        // What logs and error messages print of it.
        for flow in decoded.conntrack { _ = flow.description }
        for error in decoded.errors { _ = error.description }
        _ = decoded.ruleFingerprint.count
    }
}
