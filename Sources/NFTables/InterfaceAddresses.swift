#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// The addresses configured on the interfaces of the caller's network namespace
/// (getifaddrs(3), which asks rtnetlink): what `fib daddr type local` calls local, short of
/// whole ranges routed as local by hand (`ip route add local 10.0.0.0/8 dev lo`).
public enum InterfaceAddresses {
    /// Every address of `family` , without duplicates.
    public static func list(_ family: AddressFamily) throws(NetlinkError) -> [IPAddress] {
        var out: [IPAddress] = []
        for (_, address) in try entries(family) where !out.contains(address) { out.append(address) }
        return out
    }

    /// The interface `address` is configured on (the first one, if on several), if any.
    public static func interface(holding address: IPAddress) -> String? {
        (try? entries(address.family))?.first { $0.address == address }?.interface
    }

    /// Every (interface, address) pair of `family`, in getifaddrs' order.
    static func entries(_ family: AddressFamily) throws(NetlinkError) -> [(interface: String, address: IPAddress)] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { throw .system(call: "getifaddrs", errno: .current) }
        defer { freeifaddrs(head) }
        let wanted: Int32 = family == .ipv6 ? AF_INET6 : AF_INET
        var out: [(interface: String, address: IPAddress)] = []
        var next = head
        while let entry = next {
            next = entry.pointee.ifa_next
            guard let sa = entry.pointee.ifa_addr, Int32(sa.pointee.sa_family) == wanted else { continue }
            let bytes: [UInt8]
            if wanted == AF_INET {
                bytes = UnsafeRawPointer(sa).withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
                }
            } else {
                bytes = UnsafeRawPointer(sa).withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                }
            }
            out.append((interface: String(cString: entry.pointee.ifa_name), address: IPAddress(bytes: bytes)))   // the netlink boundary: bytes become an address here
        }
        return out
    }
}
