/// A mistake in what the user asked for. Nothing was changed when one is thrown.
public enum MappingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Input that does not parse or is out of range; the text says what would be right.
    case invalid(String)
    /// The mapping collides with one that is already published (or with another in the same file).
    case conflict(new: String, existing: String)
    /// `rm` found nothing on exactly that host address and port.
    case notFound(String)

    public var description: String {
        switch self {
        case .invalid(let text): return text
        case .conflict(let new, let existing):
            return "\(new) conflicts with the published mapping \(existing): remove it first (nftfwd rm) or pick another host port"
        case .notFound(let text): return text
        }
    }
}
