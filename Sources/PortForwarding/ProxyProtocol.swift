/// `--proxy-protocol v1|v2`: the relay starts every connection to the target with a PROXY
/// protocol header naming the client, so a target behind the relay sees who connected.
/// Such a mapping gets no DNAT element: the kernel would hand the target the client's
/// packets without a header, so every client, remote ones too, is served by the relay.
public enum ProxyProtocol: String, Hashable, Sendable, CaseIterable, Comparable {
    case v1, v2

    public static func < (a: ProxyProtocol, b: ProxyProtocol) -> Bool { a.rawValue < b.rawValue }

    public static func parse(_ text: String) throws(MappingError) -> ProxyProtocol {
        guard let version = ProxyProtocol(rawValue: text) else {
            throw .invalid("--proxy-protocol '\(Untrusted.escape(text))': give v1 (text) or v2 (binary)")
        }
        return version
    }

    /// How the element comment's label ends for such a mapping: ` proxy-protocol v1`.
    static let labelWord = " proxy-protocol "
}

extension Mapping {
    /// This mapping with `version` as its PROXY protocol header (nil: none). TCP only: the
    /// PROXY protocol has no datagram form that targets understand.
    public func proxying(_ version: ProxyProtocol?) throws(MappingError) -> Mapping {
        if let version, proto != .tcp {
            throw .invalid("--proxy-protocol \(version.rawValue) is for tcp mappings only: \(proto.rawValue) has no PROXY header the target would read; leave it out")
        }
        // No header asked and none set: the mapping is unchanged, and its element comment was
        // checked when it was made (every file entry passes here: 7% of parsing 100,000).
        if version == nil && proxyProtocol == nil { return self }
        var copy = self
        copy.proxyProtocol = version
        guard TableLayout.elementComment(for: copy).utf8.count <= Mapping.maxStoredComment else {
            throw .invalid("comment is too long for a mapping with --proxy-protocol: shorten it")
        }
        return copy
    }
}
