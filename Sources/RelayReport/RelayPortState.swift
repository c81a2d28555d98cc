/// What the relay does with one port it should serve, from the daemon to `nftfwd ls`, the
/// doctor and the metrics: one value, printed one way (`listening`, `error: REASON`, and
/// `error: starting` for a port not tried yet), read back from the status socket's JSON.
public enum RelayPortState: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    case listening
    /// Wanted but not tried yet: the relay follows the table every 200 ms.
    case starting
    /// Cannot be served (the port is retried every second): why.
    case failed(String)

    public var description: String {
        switch self {
        case .listening: return "listening"
        case .starting: return "error: starting"
        case .failed(let reason): return "error: \(reason)"
        }
    }

    /// The printed form read back (the status JSON); what no relay prints is a failure.
    public init(_ text: String) {
        switch text {
        case "listening": self = .listening
        case "error: starting": self = .starting
        default: self = .failed(text.hasPrefix("error: ") ? String(text.dropFirst(7)) : text)
        }
    }

    public init(stringLiteral text: String) { self.init(text) }

    public var isListening: Bool { self == .listening }
}
