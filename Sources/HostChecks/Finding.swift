import PortForwarding

/// What one check found: a line of `nftfwd doctor`, or (when not OK) of the warnings
/// `nftfwd add` and `ls` print.
public struct Finding: Sendable, Equatable {
    public enum Status: String, Sendable, Comparable {
        /// Nothing to do.
        case ok
        /// Something may not work, or is unsafe; nftfwd cannot tell for sure.
        case warn
        /// Something published does not work (or cannot be published at all).
        case fail

        public static func < (a: Status, b: Status) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
        /// OK / WARN / FAIL, as doctor prints it.
        public var label: String { rawValue.uppercased() }
    }

    /// The check's stable name (`ipv4-forwarding`), for scripts.
    public var check: Check
    public var status: Status
    /// What is the case, and what it means for published traffic.
    public var message: String
    /// How to fix it (a command where there is one); nil when nothing needs fixing.
    public var fix: String?

    public init(_ check: Check, _ status: Status, _ message: String, fix: String? = nil) {
        self.check = check; self.status = status; self.message = message; self.fix = fix
    }

    /// `nftfwd: warning: <message>; <fix>`: the one line `add` and `ls` print for a problem,
    /// worded like every other warning of the CLI.
    public var warningLine: String {
        "nftfwd: warning: " + message + (fix.map { "; " + $0 } ?? "")
    }

    public var json: JSON {
        .object([("check", .string(check.rawValue)), ("status", .string(status.rawValue)),
                 ("message", .string(message)), ("fix", fix.map { .string($0) } ?? .null)])
    }
}

/// The checks `nftfwd doctor` runs, in the order it prints them.
public enum Check: String, Sendable, CaseIterable {
    /// The kernel accepts nftfwd's table: nf_tables with NAT, fib and concatenated maps.
    case natSupport = "nat-support"
    /// The nftfwd table can be read (and is nftfwd's own).
    case table = "table"
    /// net.ipv4.ip_forward while IPv4 mappings go through the kernel.
    case ipv4Forwarding = "ipv4-forwarding"
    /// net.ipv6.conf.all.forwarding while IPv6 mappings go through the kernel.
    case ipv6Forwarding = "ipv6-forwarding"
    /// Another table's forward base chain with policy drop, which drops DNAT'd traffic.
    case forwardDrop = "forward-drop"
    /// route_localnet on any interface: packets to 127.0.0.0/8 from outside get routed.
    case routeLocalnet = "route-localnet"
    /// The userland relay for loopback, wildcard and cross-family mappings.
    case relay = "relay"
    /// Something listens on each TCP target.
    case targets = "targets"
}

/// How a list of mappings is named in one line: `8080/tcp`, or `8080/tcp, 53/udp and 3 more`.
func names(_ mappings: [Mapping], limit: Int = 3) -> String {
    let all = mappings.map { $0.hostText + "/" + $0.proto.rawValue }
    guard all.count > limit else {
        return all.count <= 1 ? all.joined() : all.dropLast().joined(separator: ", ") + " and " + all.last!
    }
    return all.prefix(limit).joined(separator: ", ") + " and \(all.count - limit) more"
}

/// `10.0.0.2`, or `their targets` for several distinct target addresses.
func targets(_ mappings: [Mapping]) -> String {
    let addresses = Set(mappings.compactMap { $0.target.address })
    return addresses.count == 1 ? addresses.first!.description : "their targets"
}
