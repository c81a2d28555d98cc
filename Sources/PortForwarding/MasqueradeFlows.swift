import NetworkAddress
import NFTables

/// Which conntrack entries a committed change of masquerade rules leaves on a stale path.
///
/// Masquerade, like DNAT, is decided once per flow, at its first packet, and conntrack keeps
/// the decision while the entry lives (for UDP, until 30 s of silence). So a container's UDP
/// stream that began before `masquerade add` keeps leaving with its private source address,
/// and stays black-holed as long as it keeps sending when the far side has no route back;
/// after `masquerade rm` a stream keeps the host's address. Deleting the entries of the flows
/// from the changed subnets makes the next datagram take the table's current path.
///
/// Which entries: after an add, those whose source was not translated (one already
/// translated, by a hairpin or another table's rule, is left alone: deleting it would drop
/// replies in flight); after a removal, those whose source was. A subnet removed and added
/// again (its out-not interface changed) loses both kinds. That is a superset of the entries
/// the change makes wrong: an add also deletes flows to the bridge or to the host (which the
/// rule never masquerades), a removal also deletes hairpin flows (masqueraded by the hairpin
/// rule, still right); the kernel recreates those identically at their next packet. UDP only,
/// as for mappings (`StaleFlows`): a TCP connection keeps its path.
enum MasqueradeFlows {
    static func filters(added: [MasqueradeRule], removed: [MasqueradeRule]) -> [ConntrackFilter] {
        let addedSubnets = Set(added.map(\.subnet)), removedSubnets = Set(removed.map(\.subnet))
        var filters: [ConntrackFilter] = []
        for subnet in addedSubnets.union(removedSubnets).sorted() {
            let translated: Bool?
            switch (addedSubnets.contains(subnet), removedSubnets.contains(subnet)) {
            case (true, false): translated = false
            case (false, true): translated = true
            default: translated = nil
            }
            filters.append(ConntrackFilter(family: subnet.family, proto: Proto.udp.number,
                                           sourceSubnet: subnet,
                                           sourceTranslated: translated))
        }
        return filters
    }

    /// `10.88.0.0/24` or `10.88.0.0/24, fd88::/64`: the changed subnets, for messages.
    static func describe(added: [MasqueradeRule], removed: [MasqueradeRule]) -> String {
        Set((added + removed).map(\.subnet)).sorted().map(\.description).joined(separator: ", ")
    }
}
