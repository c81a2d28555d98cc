import PortForwarding
import NetworkAddress
/// What one `-A CHAIN ...` line of a nat table says: its conditions and its target.
///
/// Only the conditions that can matter to port publishing are kept as fields; every other one
/// lands in `unsupported` as written, so the import can say exactly what it could not carry
/// instead of dropping it.
struct IptablesRule: Sendable {
    struct Address: Sendable, Hashable {
        var address: IPAddress
        var prefix: Int
        var negated: Bool
        /// One host (`/32`, `/128`).
        var isHost: Bool { prefix == (address.family == .ipv4 ? 32 : 128) }
        /// As iptables-save writes it after `flag` (`! -d 127.0.0.0/8`).
        func written(_ flag: String) -> String { (negated ? "! " : "") + flag + " " + address.description + "/" + String(prefix) }
    }

    struct Interface: Sendable, Hashable {
        var name: String
        var negated: Bool
        /// As iptables-save writes it after `flag` (`! -i docker0`).
        func written(_ flag: String) -> String { (negated ? "! " : "") + flag + " " + name }
    }

    enum Target: Sendable, Equatable {
        /// `-j DNAT --to-destination TO`, with any further target options.
        case dnat(to: String?, options: [String])
        case masquerade(options: [String])
        /// A jump (`-j`) or goto (`-g`) to a chain of the same table.
        case chain(String, goto: Bool)
        case returning
        case accept
        /// Any other target (SNAT, REDIRECT, MARK, ...), with its options.
        case other(String, options: [String])
        /// No target: the rule only counts packets.
        case none
    }

    let line: Int
    let chain: String
    let text: String

    var proto: String?
    var protoNegated = false
    var source: Address?
    var destination: Address?
    var inInterface: Interface?
    var outInterface: Interface?
    /// Destination ports in nftfwd's notation (`8080`, `9000-9002`), from `--dport` or
    /// `-m multiport --dports`.
    var dports: [String]?
    /// `-m addrtype --dst-type LOCAL` / `--src-type LOCAL`.
    var destinationIsLocal = false
    var sourceIsLocal = false
    var comment: String?
    /// `-m conntrack --ctstate NEW` or `-m state --state NEW`: what NAT sees anyway.
    var newConnectionsOnly = false
    /// Conditions nftfwd cannot carry, as written (`--sport 1024:65535`, `-m recent`).
    var unsupported: [String] = []
    var target: Target = .none

    /// True when the rule has no condition at all (`-A DOCKER -j RETURN`).
    var isUnconditional: Bool {
        proto == nil && source == nil && destination == nil && inInterface == nil && outInterface == nil &&
            dports == nil && !destinationIsLocal && !sourceIsLocal && !newConnectionsOnly && unsupported.isEmpty
    }

    /// Reads a rule's words; `chains` are the table's declared chains (a `-j` to one of them
    /// is a jump, anything else a target extension).
    init(_ rule: IptablesSave.Rule, chains: Set<String>) {
        line = rule.line
        chain = rule.chain
        text = rule.text
        var words = rule.words[...]
        // The target and its options come last: iptables-save writes `-j`/`-g` after every match.
        if let j = words.lastIndex(where: { $0 == "-j" || $0 == "-g" || $0 == "--jump" || $0 == "--goto" }) {
            let goto = words[j] == "-g" || words[j] == "--goto"
            let name = j + 1 < words.endIndex ? words[j + 1] : ""
            let options = Array(words[min(j + 2, words.endIndex)...])
            switch name {
            case "DNAT":
                var to: String?, rest: [String] = []
                var i = 0
                while i < options.count {
                    if options[i] == "--to-destination", i + 1 < options.count, to == nil { to = options[i + 1]; i += 2 }
                    else { rest.append(options[i]); i += 1 }
                }
                target = .dnat(to: to, options: rest)
            case "MASQUERADE": target = .masquerade(options: options)
            case "RETURN": target = options.isEmpty ? .returning : .other(name, options: options)
            case "ACCEPT": target = options.isEmpty ? .accept : .other(name, options: options)
            default:
                target = chains.contains(name) ? .chain(name, goto: goto) : .other(name, options: options)
            }
            words = words[..<j]
        }
        parseConditions(words)
    }

    private mutating func parseConditions(_ words: ArraySlice<String>) {
        var i = words.startIndex
        var negate = false
        // The value after option `words[i]`, moving past both; nil (and a note) when missing.
        func value() -> String? {
            guard i + 1 < words.endIndex else { unsupported.append("\(words[i]) without a value"); i = words.endIndex; return nil }
            defer { i += 2 }
            return words[i + 1]
        }
        while i < words.endIndex {
            let word = words[i]
            if word == "!" { negate = true; i += 1; continue }
            let negated = negate
            negate = false
            let bang = negated ? "! " : ""
            switch word {
            case "-p", "--protocol":
                guard let v = value() else { break }
                proto = v.lowercased(); protoNegated = negated
            case "-s", "--source", "-d", "--destination":
                guard let v = value() else { break }
                guard let address = Self.address(v, negated: negated) else {
                    unsupported.append("\(bang)\(word) \(v)"); break
                }
                if word == "-s" || word == "--source" { source = address } else { destination = address }
            case "-i", "--in-interface", "-o", "--out-interface":
                guard let v = value() else { break }
                let interface = Interface(name: v, negated: negated)
                if word == "-i" || word == "--in-interface" { inInterface = interface } else { outInterface = interface }
            case "-m", "--match":
                guard let v = value() else { break }
                // tcp/udp/sctp only open their own options (--dport); the others are read below.
                if !["tcp", "udp", "sctp", "multiport", "comment", "addrtype", "conntrack", "state"].contains(v) {
                    unsupported.append("-m \(v)")
                    return   // its options are unknown to us: the rest cannot be read reliably
                }
            case "--dport", "--destination-port", "--dports", "--destination-ports":
                guard let v = value() else { break }
                if negated { unsupported.append("! \(word) \(v)"); break }
                let ports = v.split(separator: ",", omittingEmptySubsequences: false).map { Self.nftfwdPorts($0) }
                dports = (dports ?? []) + ports
            case "--comment":
                guard let v = value() else { break }
                comment = v
            case "--dst-type", "--src-type":
                guard let v = value() else { break }
                if v == "LOCAL" && !negated {
                    if word == "--dst-type" { destinationIsLocal = true } else { sourceIsLocal = true }
                } else {
                    unsupported.append("-m addrtype \(bang)\(word) \(v)")
                }
            case "--ctstate", "--state":
                guard let v = value() else { break }
                if v == "NEW" && !negated { newConnectionsOnly = true } else { unsupported.append("\(bang)\(word) \(v)") }
            default:
                // Conditions an nftfwd mapping has no place for. Those of the modules above
                // are skipped with their values; after any other the rest stays unread, as
                // its arity is unknown.
                if let arity = Self.otherOptions[word] {
                    let end = min(i + 1 + arity, words.endIndex)
                    unsupported.append(bang + words[i..<end].joined(separator: " "))
                    i = end
                } else {
                    unsupported.append(bang + words[i...].joined(separator: " "))
                    return
                }
            }
        }
    }

    /// Options of the modules read here that a mapping cannot carry, with their value counts.
    static let otherOptions: [String: Int] = [
        "--sport": 1, "--source-port": 1, "--sports": 1, "--source-ports": 1, "--ports": 1,
        "--syn": 0, "--tcp-flags": 2, "--tcp-option": 1, "--chunk-types": 2,
        "--limit-iface-in": 0, "--limit-iface-out": 0,
        "--ctproto": 1, "--ctorigsrc": 1, "--ctorigdst": 1, "--ctreplsrc": 1, "--ctrepldst": 1,
        "--ctorigsrcport": 1, "--ctorigdstport": 1, "--ctstatus": 1, "--ctexpire": 1, "--ctdir": 1,
    ]

    /// `10.0.0.0/8`, `172.17.0.2/32`, `::1/128`, `fd00::2` (no prefix: one host).
    static func address(_ text: String, negated: Bool) -> Address? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress.parse(String(parts[0])) else { return nil }
        let full = address.family == .ipv4 ? 32 : 128
        guard parts.count == 2 else { return Address(address: address, prefix: full, negated: negated) }
        // iptables-save writes a prefix length; a netmask (255.255.0.0) is accepted too.
        if let length = Int(parts[1]), (0...full).contains(length) {
            return Address(address: address, prefix: length, negated: negated)
        }
        if let mask = IPAddress.parse(String(parts[1])), mask.family == address.family {
            let bits: [Bool] = mask.bytes.flatMap { (byte: UInt8) -> [Bool] in (0..<8).map { byte & (0x80 >> $0) != 0 } }
            let ones = bits.prefix { $0 }.count
            guard !bits[ones...].contains(true) else { return nil }   // not a contiguous mask
            return Address(address: address, prefix: ones, negated: negated)
        }
        return nil
    }

    /// iptables' `A:B` (and `:B`, `A:`) to nftfwd's `A-B`.
    static func nftfwdPorts(_ text: Substring) -> String {
        guard let colon = text.firstIndex(of: ":") else { return String(text) }
        let first = text[..<colon], last = text[text.index(after: colon)...]
        return (first.isEmpty ? "0" : String(first)) + "-" + (last.isEmpty ? "65535" : String(last))
    }
}
