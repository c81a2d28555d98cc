import PortForwarding
import NetworkAddress
/// The `--to-destination` of a DNAT rule: `172.17.0.2`, `172.17.0.2:80`,
/// `10.0.0.2:9000-9099`, `10.0.0.2:9000-9099/8000` (a port-by-port shift from base port 8000),
/// `[fd00::2]:80`, `fd00::2`.
struct NatTarget: Sendable, Equatable {
    var address: IPAddress
    /// `80` or `9000-9099`; nil keeps the packet's own port.
    var ports: PortRange?
    /// The `/BASE` of a shifted range (NF_NAT_RANGE_PROTO_OFFSET).
    var base: UInt16?

    /// Parses the text, or says why it is not a target nftfwd can take over.
    static func parse(_ text: String) -> Result<NatTarget, Problem> {
        var addressText: Substring, portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(Problem("'\(text)' is not an address")) }
            addressText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return .failure(Problem("'\(text)' is not an address")) }
                portText = rest.dropFirst()
            }
        } else if text.utf8.filter({ $0 == UInt8(ascii: ":") }).count > 1 {
            addressText = Substring(text)   // IPv6 without brackets: no port
        } else if let colon = text.firstIndex(of: ":") {
            addressText = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            addressText = Substring(text)
        }
        if addressText.isEmpty {
            return .failure(Problem("DNAT to '\(text)' names no address: nftfwd forwards to an address (this is REDIRECT's job)"))
        }
        if addressText.contains("-") {
            return .failure(Problem("DNAT to the address range \(addressText) spreads connections over several targets: an nftfwd mapping has one target address"))
        }
        guard let address = IPAddress.parse(String(addressText)) else {
            return .failure(Problem("'\(addressText)' in --to-destination \(text) is not an IP address"))
        }
        var target = NatTarget(address: address, ports: nil, base: nil)
        guard var portText else { return .success(target) }
        if let slash = portText.firstIndex(of: "/") {
            guard let base = UInt16(portText[portText.index(after: slash)...]) else {
                return .failure(Problem("'\(text)': the base port after '/' is not a port number"))
            }
            target.base = base
            portText = portText[..<slash]
        }
        do { target.ports = try PortRange.parse(portText, what: "--to-destination \(text)") } catch {
            return .failure(Problem(error.description))
        }
        return .success(target)
    }

    /// The target ports for the destination ports `host`, as the kernel's NAT chooses them
    /// (nf_nat_l4proto_unique_tuple): no target ports keep the port; one target port takes all;
    /// a shifted range (`/BASE`) maps port by port from BASE; a plain range keeps a port that
    /// lies inside it, and sends any other to its first free port (in practice its first port,
    /// for every connection), which no mapping can express.
    func ports(for host: PortRange) -> Result<PortRange, Problem> {
        guard let ports else { return .success(host) }
        if ports.isSingle { return .success(ports) }   // all to one port (a host range is refused by Mapping)
        if let base {
            let offset = Int(host.first) - Int(base)
            if offset >= 0 && Int(host.last) - Int(base) < ports.count {
                return .success(PortRange(UInt16(Int(ports.first) + offset), UInt16(Int(ports.first) + offset + host.count - 1)))
            }
            return .failure(Problem("ports \(host) shifted from base \(base) run outside \(ports) (the kernel wraps them around): an nftfwd mapping shifts a range without wrapping"))
        }
        if host == ports || (host.isSingle && ports.ports.contains(host.first)) { return .success(host) }
        return .failure(Problem("DNAT of port(s) \(host) to the range \(ports) sends every connection to the range's first free port (\(ports.first)), not port by port, which an nftfwd mapping cannot express; iptables writes a port-by-port shift as \(address.bracketed):\(ports)/\(host.first)"))
    }

    struct Problem: Error, Sendable, Equatable {
        var text: String
        init(_ text: String) { self.text = text }
    }
}
