import NetworkAddress

/// A published port: traffic to `host` (proto/port, optionally one host address) goes to `target`.
///
/// Always valid once constructed: ports in range, ranges of equal length, one address family,
/// a concrete target address, a comment that fits in the element's userdata.
public struct Mapping: Hashable, Sendable, CustomStringConvertible {
    public let proto: Proto
    /// The host side; `address == nil` means every local address of `hostFamily`.
    public let host: Endpoint
    /// The family of the traffic the mapping catches: the host address's, or for a host
    /// without address (or 0.0.0.0 / [::]) the one it was written with, else the target's.
    public let hostFamily: IPAddress.Family
    /// The target; its address is never nil.
    public let target: Endpoint
    public let comment: String
    /// The source networks whose clients may reach the mapping, sorted, of the host family
    /// (the clients'); empty: everyone. Set through `allowing(_:)`, which checks them.
    public internal(set) var allow: [Subnet] = []
    /// The PROXY protocol header the relay sends the target (nil: none); set through
    /// `proxying(_:)`. Such a mapping is relay-only (`isRelayOnly`), for every client.
    public internal(set) var proxyProtocol: ProxyProtocol?

    /// The longest user comment accepted; the element comment also holds the mapping itself.
    public static let maxCommentLength = 64

    public init(proto: Proto, host: Endpoint, target: Endpoint, comment: String = "") throws(MappingError) {
        try self.init(proto: proto, host: host, target: target, comment: comment, rule: .new)
    }

    /// Which comments are valid: what nftfwd accepts now (`new`), or, for a comment read back
    /// from the kernel, also what earlier versions accepted (`stored`), so a table they wrote
    /// stays readable; such a comment is printed escaped like any text read from the kernel.
    enum CommentRule { case new, stored }

    init(proto: Proto, host: Endpoint, target: Endpoint, comment: String, rule: CommentRule) throws(MappingError) {
        guard let targetAddress = target.address else {
            throw .invalid("target '\(target)' needs an address: write ADDR:PORT, e.g. 10.0.0.2:\(target.ports)")
        }
        if targetAddress.isUnspecified {
            throw .invalid("target address \(targetAddress) is not a host: name the address the service listens on")
        }
        var host = host
        let hostFamily = host.address?.family ?? targetAddress.family
        if let address = host.address, address.isUnspecified {
            host.address = nil   // 0.0.0.0 and [::] mean "every local address"
        }
        // Between IPv4 and IPv6 only the userland relay can carry traffic; the kernel cannot
        // translate. Such a mapping is accepted, recorded, and never DNAT'd.
        let crossFamily = hostFamily != targetAddress.family
        if let address = host.address, let problem = address.unusableReason {
            throw .invalid("host address \(address) is \(problem): use a unicast address")
        }
        if let problem = targetAddress.unusableReason {
            throw .invalid("target address \(targetAddress) is \(problem): use a unicast address")
        }
        // A loopback service stays reachable from this host only: never publish it wider,
        // not even through the relay (that would undo the CVE-2020-8558 protection).
        if targetAddress.isLoopback && host.address?.isLoopback != true {
            throw .invalid("target \(target) is a loopback address: only a loopback host address (127.0.0.1, [::1]) may lead to it; publish the service on an address the kernel can reach")
        }
        if host.address == target.address && host.ports == target.ports {
            throw .invalid("host \(host) and target \(target) are the same: the mapping would loop back onto itself")
        }
        if proto == .sctp && (crossFamily || host.address?.isLoopback == true) {
            throw .invalid("sctp \(host) -> \(target) could only be served by the userland relay, which does not relay sctp: use an address of the target's family that is not loopback")
        }
        guard host.ports.count == target.ports.count else {
            throw .invalid("host ports \(host.ports) (\(host.ports.count)) and target ports \(target.ports) (\(target.ports.count)) differ in length: give ranges of the same length")
        }
        if host.ports.count > 1 && target.ports.isSingle {
            throw .invalid("host range \(host.ports) needs a target range of the same length")
        }
        try Mapping.checkComment(comment, rule: rule)
        self.proto = proto
        self.host = host
        self.hostFamily = hostFamily
        self.target = target
        self.comment = comment
        // The element comment (label, then the user's text) must fit nft's comment limit
        // whole, or it would not read back.
        // Mappings whose longest possible label leaves room need not build it to know.
        if Mapping.storedCommentBound(self) > Mapping.maxStoredComment,
           TableLayout.elementComment(for: self).utf8.count > Mapping.maxStoredComment {
            let room = Mapping.maxStoredComment - label.utf8.count - 3
            throw .invalid(room > 0
                ? "comment is too long for this mapping: \(room) bytes fit beside its addresses, \(comment.utf8.count) were given"
                : "this mapping's addresses leave no room for a comment: leave --comment out")
        }
    }

    /// nft's limit for a comment, which holds the label and the user's comment.
    static let maxStoredComment = 127

    /// At least the length of `TableLayout.elementComment(for:)`: each part of the label at
    /// its longest for the address family ("[" IPv6 "]:" 65535-65535, ...), and the comment.
    static func storedCommentBound(_ m: Mapping) -> Int {
        func side(_ address: IPAddress?) -> Int {
            // No address: the ports, or "0.0.0.0:" / "[::]:" before them (hostText).
            guard let address else { return 8 + 11 }
            return (address.family == .ipv4 ? 15 + 1 : 39 + 3) + 11
        }
        let proxy = m.proxyProtocol.map { ProxyProtocol.labelWord.utf8.count + $0.rawValue.utf8.count } ?? 0
        let comment = m.comment.isEmpty ? 0 : 3 + m.comment.utf8.count
        return side(m.host.address) + 1 + 4 + 4 + side(m.target.address) + proxy + comment
    }

    /// Parses the CLI's and the JSON file's text forms.
    public static func parse(host: String, target: String, proto: String = "tcp", comment: String = "") throws(MappingError) -> Mapping {
        try parse(host: host, target: target, proto: proto, comment: comment, rule: .new)
    }

    static func parse(host: String, target: String, proto: String, comment: String, rule: CommentRule) throws(MappingError) -> Mapping {
        let p = try Proto.parse(proto)
        let h = try Endpoint.parse(host, what: "host")
        let t = try Endpoint.parse(target, what: "target")
        return try Mapping(proto: p, host: h, target: t, comment: comment, rule: rule)
    }

    static func checkComment(_ comment: String, rule: CommentRule = .new) throws(MappingError) {
        if comment.utf8.count > maxCommentLength {
            throw .invalid("comment is \(comment.utf8.count) bytes long: keep it to \(maxCommentLength)")
        }
        // Printable ASCII without '"' or '#' (most comments, and the empty one) is valid under
        // both rules: no scalar to look up.
        if comment.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "#") }) { return }
        // Before the rule above, nftfwd refused only C0, DEL, '"' and '#' (the element
        // comment's syntax needs the last two): a comment it wrote then still reads back.
        if rule == .stored {
            if comment.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\u{7f}" || $0 == "\"" || $0 == "#" }) {
                throw .invalid("comment holds a control character, '\"' or '#'")
            }
            return
        }
        // Controls and bidi/format characters would reach every terminal and log that shows
        // the comment; '"' and '#' would break the element comment's syntax. Any other
        // printable character, non-ASCII too, is fine.
        if let (scalar, position) = Untrusted.firstUnsafe(in: comment) {
            throw .invalid("comment: \(Untrusted.codePoint(scalar)) (\(Untrusted.kind(scalar))) at character \(position) is not allowed: use printable text")
        }
        for (i, s) in comment.unicodeScalars.enumerated() where s == "\"" || s == "#" {
            throw .invalid("comment: '\(s)' at character \(i + 1) is not allowed (it would break the element's comment): leave it out")
        }
    }

    public var targetFamily: IPAddress.Family { target.address!.family }

    /// True when the host side is a loopback address.
    public var isLoopbackOnly: Bool { host.address?.isLoopback == true }

    /// True when host and target are of different families (IPv6 clients to an IPv4 service).
    public var isCrossFamily: Bool { hostFamily != targetFamily }

    /// Only the userland relay can serve it: a loopback host address, a family change, or a
    /// PROXY protocol header.
    /// The kernel path never DNATs these.
    public var isRelayOnly: Bool { isLoopbackOnly || isCrossFamily || proxyProtocol != nil }

    /// The host side as text that parses back to the same mapping: `8080`, `[::]:8080` for
    /// every IPv6 address in front of an IPv4 target, `192.0.2.10:8080`.
    public var hostText: String {
        if host.address == nil && isCrossFamily {
            return (hostFamily == .ipv4 ? "0.0.0.0:" : "[::]:") + host.ports.description
        }
        return host.description
    }

    /// `8080/tcp -> 10.0.0.2:80`: how messages and the element comments name the mapping.
    /// With a PROXY protocol header: `8080/tcp -> 10.0.0.2:80 proxy-protocol v1`.
    public var label: String {
        var out = LabelText()
        writeLabel(into: &out)
        return out.string
    }

    public var description: String {
        let text = comment.isEmpty ? label : "\(label) (\(comment))"
        return allow.isEmpty ? text : text + " allow " + allow.map(\.description).joined(separator: ",")
    }

    /// Whether both would claim some packet: same protocol and host family, overlapping host
    /// addresses (equal, or either is every address) and overlapping ports.
    public func conflicts(with other: Mapping) -> Bool {
        guard proto == other.proto, hostFamily == other.hostFamily, host.ports.overlaps(other.host.ports) else { return false }
        guard let a = host.address, let b = other.host.address else { return true }
        return a == b
    }

    /// The target port for a host port of this mapping (same offset into both ranges).
    public func targetPort(for hostPort: UInt16) -> UInt16 {
        target.ports.first + (hostPort - host.ports.first)
    }
}

extension Mapping: Comparable {
    public static func < (a: Mapping, b: Mapping) -> Bool {
        if a.proto != b.proto { return a.proto < b.proto }
        if a.host.ports != b.host.ports { return a.host.ports < b.host.ports }
        if a.hostFamily != b.hostFamily { return a.hostFamily < b.hostFamily }
        switch (a.host.address, b.host.address) {
        case (nil, nil): break
        case (nil, _): return true
        case (_, nil): return false
        case (let x?, let y?): if x != y { return x < y }
        }
        if a.target.description != b.target.description { return a.target.description < b.target.description }
        return (a.proxyProtocol?.rawValue ?? "") < (b.proxyProtocol?.rawValue ?? "")
    }
}
