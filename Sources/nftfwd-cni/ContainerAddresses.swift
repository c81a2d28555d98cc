import PortForwarding
import NetworkAddress

/// The container's addresses, from the prevResult the plugins before us (bridge + host-local)
/// returned: the first IPv4 and the first IPv6 address of `ips`, with their subnets, as
/// portmap takes them. `ips` entries read the same in 0.3.x, 0.4.0 and 1.0.0 results
/// (`address` in CIDR form; the older `version` field is not needed).
struct ContainerAddresses {
    var ipv4: (address: IPAddress, subnet: Subnet)?
    var ipv6: (address: IPAddress, subnet: Subnet)?

    init(prevResult: JSON) throws(CNIError) {
        guard let ips = prevResult["ips"] else { return }
        guard case .array(let items) = ips else { throw NetworkConfig.invalid("prevResult.ips must be an array") }
        for item in items {
            guard case .string(let cidr)? = item["address"] else { throw NetworkConfig.invalid("prevResult.ips: an entry has no address") }
            let parts = cidr.split(separator: "/")
            guard parts.count == 2, let address = IPAddress.parse(String(parts[0])), let prefix = Int(parts[1]),
                  prefix >= 1, prefix <= address.family.bitCount else {
                throw NetworkConfig.invalid("prevResult.ips: \"\(cidr)\" is not an address in CIDR form")
            }
            let network = Subnet.mask(address.bytes, prefix)
            let subnet = try? Subnet.checked(IPAddress(bytes: network), prefix: prefix, loopback: false, shown: cidr)
            guard let subnet else { continue }   // loopback, link-local and the like are never published to
            if address.family == .ipv4 && ipv4 == nil { ipv4 = (address, subnet) }
            if address.family == .ipv6 && ipv6 == nil { ipv6 = (address, subnet) }
        }
    }

    var isEmpty: Bool { ipv4 == nil && ipv6 == nil }
    var subnets: [Subnet] { [ipv4?.subnet, ipv6?.subnet].compactMap { $0 } }

    func address(_ family: IPAddress.Family) -> IPAddress? { family == .ipv4 ? ipv4?.address : ipv6?.address }
}
