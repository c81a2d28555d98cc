import PortForwarding

/// A failure as the CNI spec reports it: a JSON object on stdout with `code`, `msg` and
/// `details`, and a non-zero exit status. Codes 1-99 are the spec's, 100 and up this plugin's.
struct CNIError: Error, CustomStringConvertible {
    var code: Int
    var msg: String
    var details: String = ""

    // The spec's codes.
    static let incompatibleVersion = 1
    static let decodingFailure = 6
    static let invalidNetworkConfig = 4
    static let invalidEnvironment = 7
    static let tryAgainLater = 11
    // This plugin's.
    /// A mapping of the container collides with one already published: nothing was changed.
    static let portConflict = 100
    /// `nftfwd relay --restore-from` keeps the table equal to its file and would undo the change.
    static let wouldBeUndone = 101
    /// The kernel refused or failed a request (permissions, netlink, a table nftfwd cannot read).
    static let system = 102
    /// CHECK: the container's mappings are not all published exactly as configured.
    static let checkFailed = 103

    var description: String { details.isEmpty ? msg : "\(msg): \(details)" }

    /// The error object, `cniVersion` first as the spec shows it.
    func json(cniVersion: String) -> JSON {
        var fields: [(String, JSON)] = [("cniVersion", .string(cniVersion)), ("code", .number(Double(code))), ("msg", .string(msg))]
        if !details.isEmpty { fields.append(("details", .string(details))) }
        return .object(fields)
    }
}
