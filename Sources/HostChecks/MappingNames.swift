import PortForwarding

/// How a list of mappings is named in one line: `8080/tcp`, or `8080/tcp, 53/udp and 3 more`.
func names(_ mappings: [Mapping], limit: Int = 3) -> String {
    let all = mappings.map { $0.hostText + "/" + $0.proto.rawValue }
    guard all.count > limit else {
        return all.count <= 1 ? all.joined() : all.dropLast().joined(separator: ", ") + " and " + all.last!
    }
    return all.prefix(limit).joined(separator: ", ") + " and \(all.count - limit) more"
}

/// `10.0.0.2`, or `their targets` for several distinct target addresses.
func targets(_ mappings: [Mapping]) -> String {
    let addresses = Set(mappings.compactMap { $0.target.address })
    return addresses.count == 1 ? addresses.first!.description : "their targets"
}
