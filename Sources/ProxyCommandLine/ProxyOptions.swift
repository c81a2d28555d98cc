import NFTRelay
import NetworkAddress

/// docker-proxy's command line, validated into what the relay needs.
public enum ProxyOptions {
    public static let version = "nftfwd-proxy version 0.3.0 (docker-proxy compatible, NFTRelay engine)"

    public static let usage = """
        Usage of nftfwd-proxy (a drop-in for docker-proxy):
          -container-ip string
            \tcontainer ip
          -container-port int
            \tcontainer port (default -1)
          -host-ip string
            \thost ip
          -host-port int
            \thost port (default -1)
          -proto string
            \tproxy protocol (default "tcp")
          -use-listen-fd
            \tuse a supplied listen fd (fd 4)
          -v\tprint version information and quit
          -version
            \tprint version information and quit
        """

    public enum Parsed {
        case version
        case help
        case run(ListenerSpec)
    }

    public enum Failure: Error, CustomStringConvertible {
        /// Bad syntax: Go's flag package prints usage and exits 2.
        case usage(String)
        /// Parsed, but the values cannot be served: reported through fd 3, exit 1.
        case invalid(String)

        public var description: String {
            switch self {
            case .usage(let text), .invalid(let text): return text
            }
        }
    }

    public static func parse(_ arguments: [String]) throws(Failure) -> Parsed {
        var flags = GoFlags([
            "proto": .string, "host-ip": .string, "host-port": .string,
            "container-ip": .string, "container-port": .string,
            "use-listen-fd": .bool, "v": .bool, "version": .bool,
        ])
        do {
            try flags.parse(arguments)
        } catch .help {
            return .help
        } catch {
            throw .usage(error.description)
        }
        if flags.bool("v") || flags.bool("version") { return .version }

        let proto = flags.string("proto") ?? "tcp"
        let transport: ListenerSpec.TransportProtocol
        switch proto {
        case "tcp", "tcp4", "tcp6": transport = .tcp
        case "udp", "udp4", "udp6": transport = .udp
        case "sctp", "sctp4", "sctp6": throw .invalid("sctp is not supported by nftfwd-proxy")
        default: throw .invalid("unsupported protocol \(proto)")
        }
        let hostPort = try port(flags.string("host-port"), "host-port")
        let containerPort = try port(flags.string("container-port"), "container-port")
        guard let hostText = flags.string("host-ip"), let hostIP = IPAddress(dockerProxy: hostText) else {
            throw .invalid("invalid host ip \"\(flags.string("host-ip") ?? "")\"")
        }
        guard let containerText = flags.string("container-ip"), let containerIP = IPAddress(dockerProxy: containerText) else {
            throw .invalid("invalid container ip \"\(flags.string("container-ip") ?? "")\"")
        }
        let useListenFD = flags.bool("use-listen-fd")
        return .run(ListenerSpec(
            proto: transport,
            listen: SocketAddress(ip: hostIP, port: hostPort),
            target: SocketAddress(ip: containerIP, port: containerPort),
            preopenedFD: useListenFD ? 4 : nil
        ))
    }

    /// A port number as Go's int flag accepts it (`GoFlags.parseInt`: decimal, 0x hex, 0o/0
    /// octal, 0b binary, a sign), then 1-65535.
    private static func port(_ text: String?, _ name: String) throws(Failure) -> UInt16 {
        guard let text else { throw .invalid("missing -\(name)") }
        guard let value = GoFlags.parseInt(text) else {
            throw .usage("invalid value \"\(text)\" for flag -\(name): parse error")
        }
        guard (1...65535).contains(value) else { throw .invalid("invalid -\(name) \(value): must be 1-65535") }
        return UInt16(value)
    }
}
