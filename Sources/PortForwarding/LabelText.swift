import NetworkAddress

/// Mapping labels written as bytes into one buffer: `apply` writes one per element comment,
/// and six String concatenations cost 3,300 instructions a label, 7% of a 10,000-mapping
/// apply (callgrind). The text is exactly what the String forms give (`LabelTextTests`).
struct LabelText {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 48) { bytes.reserveCapacity(capacity) }

    mutating func text(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// `address.bracketed`: IPv4 written here, IPv6 (RFC 5952) through its own text.
    mutating func bracketed(_ address: IPAddress) {
        guard case .v4(let a) = address.storage else { text(address.bracketed); return }
        TextBytes.ipv4(a, into: &bytes)
    }

    /// `ports.description`.
    mutating func ports(_ ports: PortRange) { TextBytes.ports(ports, into: &bytes) }

    /// `endpoint.description`: `[ADDRESS:]PORTS`.
    mutating func endpoint(_ endpoint: Endpoint) {
        if let address = endpoint.address {
            bracketed(address)
            byte(UInt8(ascii: ":"))
        }
        ports(endpoint.ports)
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

extension Mapping {
    /// `label` into `out`.
    func writeLabel(into out: inout LabelText) {
        if host.address == nil && isCrossFamily {
            out.text(hostFamily == .ipv4 ? "0.0.0.0:" : "[::]:")
            out.ports(host.ports)
        } else {
            out.endpoint(host)
        }
        out.byte(UInt8(ascii: "/"))
        out.text(proto.rawValue)
        out.text(" -> ")
        out.endpoint(target)
        if let proxyProtocol {
            out.text(ProxyProtocol.labelWord)
            out.text(proxyProtocol.rawValue)
        }
    }
}
