import NetworkAddress
import NFTables

extension TableReader {
    /// The masquerade rules, checked element by element: every range must be exactly the
    /// subnet its comment names, closed where it should be, and a rule with `out-not` must
    /// have its one (subnet . interface) element, and nothing else may be there.
    public func masqueradeRules() throws(PublishError) -> [MasqueradeRule] {
        var rules: [MasqueradeRule] = []
        for family in [IPAddress.Family.ipv4, .ipv6] {
            rules += try masqueradeRules(family)
        }
        return rules.sorted()
    }

    private func masqueradeRules(_ family: IPAddress.Family) throws(PublishError) -> [MasqueradeRule] {
        let subnetsSet = TableLayout.MasqueradeSet.subnets(family), keepSet = TableLayout.MasqueradeSet.keep(family)
        func foreign(_ problem: String) -> PublishError { .foreign(table: layout.table.name, problem: problem) }
        let records = try nft.elements(of: layout.table, map: subnetsSet.rawValue)
        let keepRecords = try nft.elements(of: layout.table, map: keepSet.rawValue)

        var ends = records.filter(\.intervalEnd).map(\.key)
        var rules: [MasqueradeRule] = []
        for record in records where !record.intervalEnd {
            let describe = "element \(hex(record.key)) of set \(subnetsSet.rawValue)"
            guard let comment = record.comment, let rule = MasqueradeRule.parseLabel(comment), rule.subnet.family == family else {
                throw foreign("\(describe) has no nftfwd comment it can read")
            }
            guard record.key == rule.subnet.network.bytes else { throw foreign("\(describe) does not match its comment \"\(Untrusted.escape(comment))\"") }
            if let next = rule.subnet.next {
                guard let index = ends.firstIndex(of: next) else { throw foreign("the range of masquerade \(rule) in set \(subnetsSet.rawValue) has no end") }
                ends.remove(at: index)
            }
            rules.append(rule)
        }
        // nft itself writes an end element at the lowest address when it loads an interval set
        // (a table reloaded with 'nft -f' has one): it closes nothing and matches nothing.
        ends.removeAll { $0.allSatisfy { $0 == 0 } }
        if let stray = ends.first { throw foreign("set \(subnetsSet.rawValue) has a range end \(hex(stray)) that closes no nftfwd subnet") }

        var withKeep = Set<MasqueradeRule>()
        for record in keepRecords {
            let describe = "element \(hex(record.key)) of set \(keepSet.rawValue)"
            guard let comment = record.comment, let rule = MasqueradeRule.parseLabel(comment), let name = rule.outNot,
                  rules.contains(rule) else {
                throw foreign("\(describe) belongs to no masquerade rule of set \(subnetsSet.rawValue)")
            }
            let interface = TableLayout.interfaceKey(name)
            guard record.key == rule.subnet.network.bytes + interface, record.keyEnd == rule.subnet.last + interface else {
                throw foreign("\(describe) does not match its comment \"\(Untrusted.escape(comment))\"")
            }
            guard withKeep.insert(rule).inserted else { throw foreign("\(describe) was listed twice") }
        }
        if let missing = rules.first(where: { $0.outNot != nil && !withKeep.contains($0) }) {
            throw foreign("masquerade \(missing) has no element in set \(keepSet.rawValue)")
        }
        return rules
    }
}
