import NetworkAddress
import NFTables

// Which conntrack entries a change leaves on its old path, as filters over the entries
// ctnetlink lists (`ConntrackFlow`): the domain's question, asked through NFTables'
// `Conntrack.deleteFlows(_:where:)`. `StaleFlows` and `MasqueradeFlows` make the filters.

/// Which entries `Conntrack.deleteFlows(matching:)` deletes: those of `family` and `proto` that meet every
/// condition the filter names, in their original direction. A published port's flows: to one
/// of `destinations` on one of `ports`, except those whose replies come from the peer `spared`
/// names for their destination port. A masquerade rule's flows: from `sourceSubnet`, and if
/// `sourceTranslated` is set, only those whose source the kernel did (or did not) translate.
/// A table's DNATed flows: those carrying one of the label bits `labels` names.
/// A filter that names neither destination ports nor a source subnet selects nothing: no
/// filter ever empties the whole table.
public struct ConntrackFilter: Sendable, Hashable {
    public var family: AddressFamily
    public var proto: UInt8
    /// Original destination addresses; nil: any.
    public var destinations: Set<IPAddress>?
    /// Original destination ports; nil: any.
    public var ports: Set<UInt16>?
    /// The subnet the original source lies in; nil: any.
    public var sourceSubnet: Subnet?
    /// Whether the entry's source was translated (`ConntrackFlow.sourceIsTranslated`); nil: either.
    public var sourceTranslated: Bool?
    /// Label bits (16 bytes, as `ConntrackFlow.labels`) of which the entry must carry one; nil: any.
    public var labels: [UInt8]?
    /// Per destination port, where replies come from on the path that is right now (the
    /// target published for the port): such an entry is kept.
    public var spared: [UInt16: ConntrackPeer]

    /// The flows to published ports.
    public init(family: AddressFamily, proto: UInt8, destinations: Set<IPAddress>, ports: Set<UInt16>,
                spared: [UInt16: ConntrackPeer] = [:]) {
        self.family = family
        self.proto = proto
        self.destinations = destinations
        self.ports = ports
        self.spared = spared
    }

    /// The flows from a source subnet, to anywhere.
    public init(family: AddressFamily, proto: UInt8, sourceSubnet: Subnet, sourceTranslated: Bool?) {
        self.family = family
        self.proto = proto
        self.sourceSubnet = sourceSubnet
        self.sourceTranslated = sourceTranslated
        self.spared = [:]
    }

    /// The flows that carry one of the label bits in `labels` (16 bytes): the ones a table's
    /// rules labelled, wherever they went.
    public init(family: AddressFamily, proto: UInt8, labels: [UInt8]) {
        self.family = family
        self.proto = proto
        self.labels = labels
        self.spared = [:]
    }

    /// Names destination ports, a source subnet or label bits (else it selects nothing).
    public var isBounded: Bool { ports != nil || sourceSubnet != nil || labels?.contains { $0 != 0 } == true }

    public func matches(_ flow: ConntrackFlow) -> Bool {
        guard isBounded, flow.family == family, flow.proto == proto else { return false }
        if let ports, !ports.contains(flow.destinationPort) { return false }
        if let destinations, !destinations.contains(flow.destination) { return false }
        if let sourceSubnet, !sourceSubnet.contains(flow.source) { return false }
        if let sourceTranslated, flow.sourceIsTranslated != sourceTranslated { return false }
        if let labels, !zip(labels, flow.labels).contains(where: { $0 & $1 != 0 }) { return false }
        guard let peer = spared[flow.destinationPort] else { return true }
        return peer.address != flow.replySource || peer.port != flow.replySourcePort
    }
}

/// An address and a port.
public struct ConntrackPeer: Sendable, Hashable {
    public var address: IPAddress
    public var port: UInt16
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }
}

extension Conntrack {
    /// Deletes the entries any of `filters` selects and returns how many the kernel deleted:
    /// one dump per family involved (see `deleteFlows(_:where:)`).
    @discardableResult
    public func deleteFlows(matching filters: [ConntrackFilter]) throws(NetlinkError) -> Int {
        var deleted = 0
        for family in [AddressFamily.ipv4, .ipv6] {
            let selection = Selection(filters.filter { $0.family == family })
            guard !selection.isEmpty else { continue }
            deleted += try deleteFlows(family, where: selection.selects)
        }
        return deleted
    }

    /// Filters of one family indexed by protocol and port, so that checking an entry costs a
    /// hash lookup whether one mapping changed or the 5,000 an `apply` replaced; the few that
    /// name no ports (a masquerade rule's source subnet) are checked against every entry.
    struct Selection {
        private var filters: [UInt32: [ConntrackFilter]] = [:]
        private var anyPort: [ConntrackFilter] = []

        init(_ all: [ConntrackFilter]) {
            for filter in all where filter.isBounded && filter.destinations?.isEmpty != true {
                if let ports = filter.ports {
                    for port in ports { filters[Selection.key(filter.proto, port), default: []].append(filter) }
                } else {
                    anyPort.append(filter)
                }
            }
        }

        var isEmpty: Bool { filters.isEmpty && anyPort.isEmpty }

        func selects(_ flow: ConntrackFlow) -> Bool {
            filters[Selection.key(flow.proto, flow.destinationPort)]?.contains { $0.matches(flow) } ?? false
                || anyPort.contains { $0.matches(flow) }
        }

        private static func key(_ proto: UInt8, _ port: UInt16) -> UInt32 { UInt32(proto) << 16 | UInt32(port) }
    }
}
