import NetworkAddress

extension Subnet {
    /// Whether a client from `address` may use a listener allowing `networks` (empty: anyone):
    /// the relay's side of a mapping's allow-list, for the clients the kernel's rules never see
    /// (loopback clients, and those of a listener bound to a loopback address).
    static func admits(_ networks: [Subnet], _ address: IPAddress) -> Bool {
        networks.isEmpty || networks.contains { $0.contains(address) }
    }
}
