/// Why a listener could not be set up, worded like docker-proxy / Go's net package
/// ("listen tcp 0.0.0.0:8080: bind: address already in use"), because dockerd shows the
/// proxy's text to the user verbatim.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    public var spec: ListenerSpec
    public var underlying: SyscallError

    public var description: String {
        "listen \(spec.proto.rawValue) \(spec.listen): \(underlying)"
    }
}
