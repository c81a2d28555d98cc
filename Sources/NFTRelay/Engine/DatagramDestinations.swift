import NetworkAddress

/// Where a redirected UDP client meant to go.
///
/// A TCP redirect listener asks the accepted socket (SO_ORIGINAL_DST); a UDP socket has no
/// such question: the kernel's `redirect` rewrote each datagram's destination to the relay's
/// socket, and only the conntrack entry it made still holds the original one. The relay
/// engine knows nothing of netlink, so whoever builds the routes supplies the lookup
/// (PublishedRelay: a ctnetlink query by reply tuple). Called on a loop thread, once per new
/// flow and when a silent flow is checked again; a client that gets no flow (no entry, no
/// route, refused by the allow-list) is not asked about again for a second, or until the
/// routes change (`UDPListener.unserved`).
public protocol DatagramDestinations: Sendable {
    /// The destination `client` sent to before the kernel redirected it to `local` (the
    /// listener's own address); nil when no entry says so (the datagram is dropped).
    func originalDestination(client: SocketAddress, redirectedTo local: SocketAddress) -> SocketAddress?
}
