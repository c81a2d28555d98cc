import NetworkAddress

/// Per-mapping source allow-lists (`--allow CIDR`): only clients from these networks reach
/// the mapping; the kernel drops, and counts per mapping, the others (see `TableLayout.AccessSet`).
extension Mapping {
    /// This mapping with `subnets` as its allow-list (empty: open to everyone). Every network
    /// must be of the clients' family (the host side's, also for a cross-family mapping),
    /// and no two may overlap: the kernel's range sets cannot hold overlapping ranges.
    public func allowing(_ subnets: [Subnet]) throws(MappingError) -> Mapping {
        for subnet in subnets where subnet.family != hostFamily {
            throw .invalid("--allow \(subnet) is \(subnet.family.rawValue), but the clients of \(hostText) are \(hostFamily.rawValue): give \(hostFamily.rawValue) networks")
        }
        let sorted = subnets.sorted()
        for (i, a) in sorted.enumerated() {
            for b in sorted[(i + 1)...] where a.overlaps(b) {
                if a == b { throw .invalid("--allow \(a) is listed twice") }
                throw .invalid("--allow \(b) overlaps \(a): list each client address once (keep the wider network)")
            }
        }
        if sorted.count > Mapping.maxAllow {
            throw .invalid("\(sorted.count) --allow networks given: at most \(Mapping.maxAllow) per mapping")
        }
        let elements = TableLayout.matchCount(sorted, ports: host.ports.count)
        if elements > Mapping.maxMatchElements {
            throw .invalid("--allow: \(sorted.count) network(s) over \(host.ports.count) port(s) take \(elements) kernel elements, at most \(Mapping.maxMatchElements) per mapping (networks of /8, /16, /24 or /32, and /8 steps in IPv6, take one each per port)")
        }
        var copy = self
        copy.allow = sorted
        return copy
    }

    /// This mapping with the networks `texts` name as its allow-list: `192.168.1.0/24`,
    /// `fd00::/64`, `127.0.0.1/32` (host bits set is refused, with the network meant).
    public func allowing(_ texts: [String]) throws(MappingError) -> Mapping {
        var subnets: [Subnet] = []
        for text in texts {
            do throws(MappingError) {
                subnets.append(try Subnet.parse(text, loopback: true))
            } catch {
                throw .invalid("--allow: \(error)")
            }
        }
        return try allowing(subnets)
    }

    /// Generous, but a bound: each network is one element of a kernel set.
    public static let maxAllow = 256
    /// The bound on a mapping's `match` elements (each network expands into the prefix level
    /// at or above it, per host port: see `TableLayout.AccessSet`).
    public static let maxMatchElements = 65_536
}
