import NFTables
import PortForwarding
import NetworkAddress

/// Where the host sends a mapping's target: the interface of the longest matching route
/// (/proc/net/route, /proc/net/ipv6_route; main and other tables alike, local routes left
/// out), and, when that interface is a bridge, the port behind which the target lives
/// (its ARP entry's MAC in the bridge's forwarding database; every port when unknown).
enum TargetPaths {
    struct Route {
        var interface: String
        /// The routed network (converted from /proc's hex here, at the boundary).
        var destination: Subnet
        var viaGateway: Bool
        var prefix: Int { destination.prefixLength }
    }

    static func routes(_ family: IPAddress.Family) -> [Route] {
        family == .ipv4 ? routes4() : routes6()
    }

    /// /proc/net/route: hex words in the kernel's byte order (little-endian here).
    static func routes4() -> [Route] {
        SystemFiles.table("/proc/net/route", header: true).compactMap { f in
            guard f.count >= 8, let dest = UInt32(f[1], radix: 16), let gateway = UInt32(f[2], radix: 16),
                  let flags = UInt32(f[3], radix: 16), let mask = UInt32(f[7], radix: 16), flags & 1 != 0 else { return nil }
            func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
            return Route(interface: String(f[0]), destination: Subnet(network: IPAddress(bytes: bytes(dest)), prefixLength: mask.nonzeroBitCount),
                         viaGateway: gateway != 0)
        }
    }

    /// /proc/net/ipv6_route: destination, prefix, source, source prefix, next hop, metric,
    /// refcount, use, flags, interface.
    static func routes6() -> [Route] {
        SystemFiles.table("/proc/net/ipv6_route", header: false).compactMap { f in
            guard f.count >= 10, f[0].count == 32, let prefix = Int(f[1], radix: 16), prefix <= 128, let flags = UInt32(f[8], radix: 16) else { return nil }
            // RTF_UP, and not RTF_REJECT (0x200) or a local route (RTF_LOCAL 0x80000000).
            guard flags & 1 != 0, flags & 0x200 == 0, flags & 0x8000_0000 == 0, f[9] != "lo" else { return nil }
            var dest: [UInt8] = []
            var i = f[0].startIndex
            while i < f[0].endIndex {
                let j = f[0].index(i, offsetBy: 2)
                dest.append(UInt8(f[0][i..<j], radix: 16) ?? 0)
                i = j
            }
            return Route(interface: String(f[9]), destination: Subnet(network: IPAddress(bytes: dest), prefixLength: prefix), viaGateway: f[4] != "00000000000000000000000000000000")
        }
    }

    /// The route the host would use for `address`, if any.
    static func route(to address: IPAddress, in routes: [Route]) -> Route? {
        routes.filter { $0.destination.family == address.family && $0.destination.contains(address) }
            .max { $0.prefix < $1.prefix }
    }

    /// The interface a mapping's clients come in by: the one holding its host address, or
    /// for a mapping on every address, the default route's (where traffic from elsewhere
    /// arrives). Nil when there is none (no default route, an address on no interface).
    static func entryInterface(of mapping: Mapping, in routes: [Route]) -> String? {
        if let address = mapping.host.address { return InterfaceAddresses.interface(holding: address) }
        return routes.first { $0.prefix == 0 && $0.viaGateway }?.interface
    }

    static func isBridge(_ interface: String) -> Bool { SystemFiles.exists("/sys/class/net/\(interface)/bridge") }

    static func ports(of bridge: String) -> [String] { SystemFiles.entries("/sys/class/net/\(bridge)/brif") }

    static func hairpinOn(_ bridge: String, _ port: String) -> Bool? {
        SystemFiles.text("/sys/class/net/\(bridge)/brif/\(port)/hairpin_mode").flatMap { Int($0.filter(\.isNumber)) }.map { $0 != 0 }
    }

    /// The bridge port behind which the IPv4 `address` lives, from its ARP entry and the
    /// bridge's forwarding database (struct __fdb_entry, 16 bytes: MAC, port_no, is_local,
    /// ageing timer, port_hi); nil when either does not know it.
    static func port(of address: IPAddress, on bridge: String) -> String? {
        guard address.family == .ipv4,
              let entry = SystemFiles.table("/proc/net/arp", header: true).first(where: { $0.count >= 6 && $0[0] == address.description && $0[5] == bridge }) else { return nil }
        let mac = entry[3].split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard mac.count == 6, mac != [0, 0, 0, 0, 0, 0], let fdb = SystemFiles.bytes("/sys/class/net/\(bridge)/brforward") else { return nil }
        var number: Int?
        var offset = 0
        while offset + 16 <= fdb.count {
            if Array(fdb[offset..<offset + 6]) == mac && fdb[offset + 7] == 0 {
                number = Int(fdb[offset + 12]) << 8 | Int(fdb[offset + 6])
                break
            }
            offset += 16
        }
        guard let number else { return nil }
        return ports(of: bridge).first { port in
            SystemFiles.text("/sys/class/net/\(bridge)/brif/\(port)/port_no").flatMap { text in
                Int(text.filter { !$0.isWhitespace }.dropFirst(2), radix: 16)
            } == number
        }
    }
}
