import SystemCalls
/// Why a listener could not be set up, worded exactly like docker-proxy (Go's net package
/// names the network by family: "listen tcp4 0.0.0.0:8080: bind: address already in use"),
/// because dockerd shows the proxy's text to the user verbatim.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    public var spec: ListenerSpec
    public var underlying: SyscallError

    public var description: String {
        "listen \(spec.proto.rawValue)\(spec.listen.family == .ipv4 ? "4" : "6") \(spec.listen): \(underlying)"
    }
}
