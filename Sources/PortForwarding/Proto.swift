/// A transport protocol a port can be published for.
public enum Proto: String, Sendable, CaseIterable, Comparable {
    case tcp, udp, sctp

    /// The IP protocol number, as `meta l4proto` yields it.
    public var number: UInt8 {
        switch self {
        case .tcp: return 6
        case .udp: return 17
        case .sctp: return 132
        }
    }

    public init?(number: UInt8) {
        guard let p = Proto.allCases.first(where: { $0.number == number }) else { return nil }
        self = p
    }

    /// Parses `tcp`, `udp` or `sctp` (any case).
    public static func parse(_ text: String) throws(MappingError) -> Proto {
        switch text {   // as written (every file nftfwd prints): no case folding needed
        case "tcp": return .tcp
        case "udp": return .udp
        case "sctp": return .sctp
        default: break
        }
        guard let p = Proto(rawValue: text.lowercased()) else {
            throw .invalid("unknown protocol '\(Untrusted.escape(text))': use tcp, udp or sctp")
        }
        return p
    }

    public static func < (a: Proto, b: Proto) -> Bool { a.number < b.number }
}
