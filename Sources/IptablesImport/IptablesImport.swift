import PortForwarding
import NetworkAddress
/// Takes port publishing over from iptables: reads `iptables-save` / `ip6tables-save` output
/// and finds, in its nat tables, the DNAT rules that publish ports (Docker's `DOCKER` chain
/// layout included) and the subnet MASQUERADE rules, as nftfwd mappings and masquerade rules.
///
/// Every line of the input that holds a chain or a rule ends in an `ImportNote`: imported
/// (with the differences between the rule and the mapping spelled out as caveats), not
/// needed (nftfwd does it by itself), plumbing (chains and jumps that only lead to the rules
/// above), skipped (other tables) or not imported, with the reason. Mappings go through
/// `Mapping.parse` and `Publisher.checkNoConflicts`, masquerade rules through
/// `MasqueradeRule.parse` and `checkNoOverlaps`, so a bad one is refused with the words `add`,
/// `masquerade add` and `apply` use.
public struct IptablesImport: Sendable {
    /// Sorted as `ls` sorts them.
    public var mappings: [Mapping]
    public var masquerade: [MasqueradeRule]
    public var notes: [ImportNote]

    /// Nothing to take over.
    public var isEmpty: Bool { mappings.isEmpty && masquerade.isEmpty }

    /// Reads the whole input. Throws only when it is not iptables-save output at all (or is
    /// cut short); rules nftfwd cannot take over are notes, not errors.
    public static func read(_ text: String) throws(MappingError) -> IptablesImport {
        let save = try IptablesSave.parse(text)
        var analysis = ImportAnalysis()
        for table in save.tables {
            if table.name == "nat" {
                analysis.read(nat: table)
            } else {
                analysis.notes.append(ImportNote(.skipped, lines: Array(table.firstLine...table.lastLine),
                                                 "table \(table.name) (\(table.rules.count) rule(s)): nftfwd imports the nat table only"))
            }
        }
        return analysis.finish()
    }

    /// One line for the top of the report.
    public var summary: String {
        let refused = notes.filter { $0.kind == .notImported }.count
        return "nftfwd import: \(mappings.count) mapping(s) and \(masquerade.count) masquerade subnet(s)"
            + (refused > 0 ? "; \(refused) rule(s) not imported, listed below" : "")
    }

    public var report: String { notes.rendered(summary: summary) }

    /// What `apply` makes of it: exactly these mappings and masquerade rules.
    public var document: StateDocument { StateDocument(mappings: mappings, masquerade: masquerade) }

    /// The state document as `ls --json` prints it (counters zero).
    public var documentText: String {
        let published = mappings.map { PublishedMapping(mapping: $0, map: TableLayout.map(for: $0), packets: 0, bytes: 0) }
        return MappingFile.render(TableSnapshot(exists: true, generation: 0, mappings: published, masquerade: masquerade))
    }
}

/// The built-in chains of the nat table.
enum NatHook: String, Sendable {
    case prerouting = "PREROUTING", input = "INPUT", output = "OUTPUT", postrouting = "POSTROUTING"
}

/// How packets reach a chain: from which built-in chain, and under which conditions of the
/// jumps on the way that nftfwd understands (`! -d 127.0.0.0/8` on Docker's OUTPUT jump is
/// one, and changes nothing here: nftfwd never DNATs loopback either).
struct NatPath: Hashable, Sendable {
    var hook: NatHook
    /// A jump on the way had `-m addrtype --dst-type LOCAL`: only traffic to this host.
    var localOnly = false
    /// Input-interface conditions of the jumps (`! -i docker0`), as written.
    var interfaces: [IptablesRule.Interface] = []
}

/// The state of one import while the tables are read.
struct ImportAnalysis {
    struct Candidate {
        var mapping: Mapping
        var lines: [Int]
        /// The first rule's text.
        var rule: String
        var hooks: Set<NatHook>
        /// Where the first rule comes in the order iptables evaluates rules (`evaluationOrder`).
        var rank: Int
        /// Some path reaches the rule without a "traffic to this host" condition.
        var catchesTransit: Bool
        var caveats: [String]
    }

    var notes: [ImportNote] = []
    var candidates: [Candidate] = []
    var masquerades: [(rule: MasqueradeRule, lines: [Int], text: String, rank: Int)] = []
    /// Rank of each rule line in the order iptables evaluates rules (`evaluationOrder`).
    var order: [Int: Int] = [:]

    mutating func read(nat table: IptablesSave.Table) {
        let chainNames = Set(table.chains.map(\.name))
        let rules = table.rules.map { IptablesRule($0, chains: chainNames) }
        order.merge(Self.evaluationOrder(rules: rules)) { first, _ in first }

        var declarations: [Int] = []
        for chain in table.chains {
            if chain.policy == "-" || chain.policy == "ACCEPT" {
                declarations.append(chain.line)
            } else {
                notes.append(ImportNote(.notImported, lines: [chain.line], "a nat chain with policy \(chain.policy): nftfwd's chains accept what they do not translate",
                                        rule: ":\(chain.name) \(chain.policy)"))
            }
        }
        if !declarations.isEmpty {
            notes.append(ImportNote(.plumbing, lines: declarations, "chain declarations (built-in chains with policy ACCEPT)"))
        }

        let (reach, blockedBy) = Self.reachability(table: table, rules: rules)
        var endedBy: [String: (line: Int, verdict: String)] = [:]   // by an unconditional RETURN/ACCEPT
        for rule in rules {
            let paths = reach[rule.chain] ?? []
            if paths.isEmpty {
                let why = blockedBy[rule.chain].map { "chain \(rule.chain) is entered only through the jump at \(ImportNote.lineList($0)), which was not imported" }
                    ?? "chain \(rule.chain) is never entered: no rule of PREROUTING, INPUT, OUTPUT or POSTROUTING leads to it"
                notImported(rule, why)
                continue
            }
            if let end = endedBy[rule.chain] {
                notImported(rule, "never reached: the unconditional \(end.verdict) at line \(end.line) ends chain \(rule.chain) before it")
                continue
            }
            switch rule.target {
            case .chain(let target, _):
                if let problem = Self.jumpProblem(rule) {
                    notImported(rule, "a jump to \(target) under conditions nftfwd cannot carry (\(problem)): the rules it leads to are not imported through it")
                } else {
                    notes.append(ImportNote(.plumbing, lines: [rule.line], Self.describeJump(rule, to: target)))
                    if rule.chain == NatHook.output.rawValue, let caveat = Self.loopbackCaveat(rule, family: table.family) {
                        notes.append(ImportNote(.caveat, lines: [rule.line], caveat))
                    }
                }
            case .returning, .accept:
                let verdict = rule.target == .returning ? "RETURN" : "ACCEPT"
                if rule.isUnconditional {
                    notes.append(ImportNote(.plumbing, lines: [rule.line], "an unconditional \(verdict): the end of chain \(rule.chain)"))
                    endedBy[rule.chain] = (rule.line, verdict)
                } else if let interface = rule.inInterface, Self.onlyInterface(rule) {
                    let text = interface.negated
                        ? "traffic not arriving on \(interface.name) skipped the rules after this \(verdict) in \(rule.chain)"
                        : "traffic arriving on \(interface.name) skipped the rules after this \(verdict) in \(rule.chain) (Docker: its own bridge)"
                    notes.append(ImportNote(.caveat, lines: [rule.line], text + "; nftfwd's mappings make no exception for an interface"))
                } else {
                    notImported(rule, "a conditional \(verdict) exempts some traffic from the rules after it; nftfwd's mappings have no exemptions")
                }
            case .none:
                notes.append(ImportNote(.plumbing, lines: [rule.line], "a rule without a target (it only counts packets)"))
            case .dnat(let to, let options):
                dnat(rule, to: to, options: options, paths: paths, family: table.family)
            case .masquerade(let options):
                masquerade(rule, options: options, paths: paths)
            case .other(let name, let options):
                notImported(rule, Self.otherTargetReason(name, options))
            }
        }
    }

    // MARK: - Reachability

    /// Which chains packets reach, and how; for the chains reached only through jumps nftfwd
    /// cannot carry, the lines of those jumps.
    static func reachability(table: IptablesSave.Table, rules: [IptablesRule]) -> ([String: Set<NatPath>], [String: [Int]]) {
        var byChain: [String: [IptablesRule]] = [:]
        for rule in rules { byChain[rule.chain, default: []].append(rule) }
        var reach: [String: Set<NatPath>] = [:]
        var blocked: [String: [Int]] = [:]
        var queue: [(String, NatPath)] = []
        for chain in table.chains where chain.policy != "-" {
            guard let hook = NatHook(rawValue: chain.name) else { continue }
            reach[chain.name] = [NatPath(hook: hook)]
            queue.append((chain.name, NatPath(hook: hook)))
        }
        while let (chain, path) = queue.popLast() {
            for rule in byChain[chain] ?? [] {
                guard case .chain(let target, _) = rule.target else { continue }
                if jumpProblem(rule) != nil { blocked[target, default: []].append(rule.line); continue }
                var next = path
                next.localOnly = next.localOnly || rule.destinationIsLocal
                if let interface = rule.inInterface, !next.interfaces.contains(interface) { next.interfaces.append(interface) }
                if reach[target, default: []].insert(next).inserted { queue.append((target, next)) }
            }
        }
        return (reach, blocked.mapValues { Array(Set($0)).sorted() })
    }

    /// The rank of every rule reached from a built-in chain in the order iptables evaluates
    /// them: PREROUTING, then OUTPUT, then POSTROUTING, each walked depth-first, a jump or goto
    /// entering its chain where it stands (the rules after it come after the whole chain it
    /// leads to). This is what "the first matching rule" means, not the order of the lines:
    /// iptables-save prints each chain's rules together, so `-A PREROUTING -j DOCKER` followed
    /// by a PREROUTING DNAT is printed before DOCKER's rules although DOCKER's come first.
    /// A chain is numbered where it is first entered (which also ends a loop of jumps).
    static func evaluationOrder(rules: [IptablesRule]) -> [Int: Int] {
        var byChain: [String: [IptablesRule]] = [:]
        for rule in rules { byChain[rule.chain, default: []].append(rule) }
        var rank: [Int: Int] = [:]
        var entered: Set<String> = []
        func walk(_ chain: String) {
            guard entered.insert(chain).inserted else { return }
            for rule in byChain[chain] ?? [] {
                rank[rule.line] = rank.count
                if case .chain(let target, _) = rule.target { walk(target) }
            }
        }
        for hook in [NatHook.prerouting, .output, .postrouting] { walk(hook.rawValue) }
        return rank
    }

    /// Nil when every condition of a jump is one nftfwd understands (traffic to local
    /// addresses, not to loopback, input interface); otherwise the others, as written.
    static func jumpProblem(_ rule: IptablesRule) -> String? {
        var others = rule.unsupported
        if let p = rule.proto { others.append((rule.protoNegated ? "! " : "") + "-p " + p) }
        if let s = rule.source { others.append(s.written("-s")) }
        if let d = rule.destination, !isLoopbackExclusion(d) { others.append(d.written("-d")) }
        if let o = rule.outInterface { others.append(o.written("-o")) }
        if let ports = rule.dports { others.append("--dport " + ports.joined(separator: ",")) }
        if rule.sourceIsLocal { others.append("-m addrtype --src-type LOCAL") }
        return others.isEmpty ? nil : others.joined(separator: " ")
    }

    /// `! -d 127.0.0.0/8` or `! -d ::1/128`: everything but loopback.
    static func isLoopbackExclusion(_ d: IptablesRule.Address) -> Bool {
        d.negated && d.address.isLoopback && d.prefix == (d.address.family == .ipv4 ? 8 : 128)
            && (d.address.family == .ipv6 || d.address.bytes == [127, 0, 0, 0])
    }

    static func onlyInterface(_ rule: IptablesRule) -> Bool {
        var copy = rule
        copy.inInterface = nil
        return copy.isUnconditional
    }

    /// What a jump from OUTPUT does with this host's own connections to loopback, which
    /// nftfwd leaves to its relay.
    static func loopbackCaveat(_ rule: IptablesRule, family: IPAddress.Family?) -> String? {
        if let d = rule.destination, isLoopbackExclusion(d) {
            guard d.address.family == .ipv4 else {
                return "this host's connections to ::1 skip the rules this jump leads to (Docker leaves them to docker-proxy): 'nftfwd relay' serves ::1 for the imported mappings"
            }
            return "this host's connections to 127.0.0.0/8 skip the rules this jump leads to (Docker leaves them to docker-proxy, which also serves IPv6 clients of ports published on every address, docker port's ':::PORT'): 'nftfwd relay' serves 127.0.0.1 for the imported mappings; IPv6 clients need mappings of their own (nftfwd add [::]:PORT ADDR:PORT)"
        }
        guard rule.destination == nil, family != .ipv6 else { return nil }
        return "this host's connections to 127.0.0.1 went through the rules this jump leads to (DNAT of loopback needs route_localnet, which Docker without userland proxy sets on its bridge): nftfwd never DNATs loopback; 'nftfwd relay' serves those connections"
    }

    static func describeJump(_ rule: IptablesRule, to target: String) -> String {
        var conditions: [String] = []
        if rule.destinationIsLocal { conditions.append("traffic to local addresses") }
        if let d = rule.destination, isLoopbackExclusion(d) { conditions.append("not to \(d.address)/\(d.prefix)") }
        if let i = rule.inInterface { conditions.append(i.written("-i")) }
        return "\(rule.chain) -> \(target)" + (conditions.isEmpty ? "" : " (" + conditions.joined(separator: ", ") + ")")
    }

    // MARK: - DNAT

    mutating func dnat(_ rule: IptablesRule, to: String?, options: [String], paths: Set<NatPath>, family: IPAddress.Family?) {
        let natPaths = paths.filter { $0.hook == .prerouting || $0.hook == .output }
        guard !natPaths.isEmpty else {
            return notImported(rule, "DNAT in a chain only \(Set(paths.map(\.hook.rawValue)).sorted().joined(separator: "/")) leads to: the kernel translates destinations in PREROUTING and OUTPUT only")
        }
        var problems = rule.unsupported.map { "'\($0)'" }
        // '-s NET' becomes the mapping's allow-list; 'every source but NET' has no such form.
        var allow: [Subnet] = []
        if let s = rule.source {
            if s.negated {
                problems.append("a negated source ('\(s.written("-s"))'), which would open the port to every source")
            } else {
                do throws(MappingError) {
                    allow = [try Subnet.parse("\(s.address)/\(s.prefix)", loopback: true)]
                } catch {
                    problems.append("a source restriction ('\(s.written("-s"))') nftfwd cannot read: \(error)")
                }
            }
        }
        if let o = rule.outInterface { problems.append("an output interface ('\(o.written("-o"))')") }
        if rule.sourceIsLocal { problems.append("'-m addrtype --src-type LOCAL'") }
        if !options.isEmpty { problems.append("DNAT option(s) '\(options.joined(separator: " "))'") }
        if !problems.isEmpty {
            return notImported(rule, "conditions an nftfwd mapping cannot carry: " + problems.joined(separator: "; "))
        }
        guard let to else { return notImported(rule, "DNAT without --to-destination") }
        guard let protoText = rule.proto, !rule.protoNegated else {
            return notImported(rule, "DNAT of \(rule.proto.map { "every protocol but \($0)" } ?? "every protocol") (no '-p tcp|udp|sctp'): nftfwd publishes tcp, udp and sctp ports")
        }
        guard let proto = Self.proto(protoText) else {
            return notImported(rule, "protocol \(protoText): nftfwd publishes tcp, udp and sctp ports")
        }
        guard let dports = rule.dports else {
            return notImported(rule, "no destination port ('--dport'): nftfwd publishes ports, not every port of an address")
        }
        var hostAddress: IPAddress?
        if let d = rule.destination {
            guard !d.negated, d.isHost else {
                return notImported(rule, "destination '\(d.written("-d"))' is not one address: an nftfwd mapping is bound to one address or to every local address")
            }
            hostAddress = d.address
        }
        let target: NatTarget
        switch NatTarget.parse(to) {
        case .success(let t): target = t
        case .failure(let problem): return notImported(rule, problem.text)
        }
        let hostFamily = hostAddress?.family ?? family ?? target.address.family

        var caveats: [String] = []
        var interfaces = Set(natPaths.flatMap(\.interfaces))
        if let i = rule.inInterface { interfaces.insert(i) }
        for i in interfaces.sorted(by: { $0.written("-i") < $1.written("-i") }) {
            caveats.append(i.negated
                ? "input interface condition '\(i.written("-i"))' dropped: an nftfwd mapping applies to traffic arriving on every interface"
                : "input interface condition '\(i.written("-i"))' dropped: the rule caught only traffic arriving on \(i.name); the mapping catches it on every interface")
        }
        let catchesTransit = hostAddress == nil && !rule.destinationIsLocal && natPaths.contains { !$0.localOnly }

        for portText in dports {
            let hostPorts: PortRange
            do { hostPorts = try PortRange.parse(Substring(portText), what: "--dport") } catch {
                notImported(rule, error.description); continue
            }
            let targetPorts: PortRange
            switch target.ports(for: hostPorts) {
            case .success(let p): targetPorts = p
            case .failure(let problem): notImported(rule, problem.text); continue
            }
            let host: String
            if let hostAddress { host = hostAddress.bracketed + ":" + hostPorts.description }
            else if hostFamily == target.address.family { host = hostPorts.description }
            else { host = IPAddress.unspecified(hostFamily).bracketed + ":" + hostPorts.description }
            let targetText = target.address.bracketed + ":" + targetPorts.description
            var mappingCaveats = caveats
            var mapping: Mapping
            do {
                mapping = try Mapping.parse(host: host, target: targetText, proto: proto.rawValue, comment: rule.comment ?? "")
            } catch {
                // A comment nftfwd cannot store does not cost the mapping: it is left out, and said so.
                do {
                    mapping = try Mapping.parse(host: host, target: targetText, proto: proto.rawValue)
                } catch {
                    notImported(rule, "\(host)/\(proto) -> \(targetText): \(error)")
                    continue
                }
                mappingCaveats.append("comment dropped: \(error)")
            }
            if !allow.isEmpty {
                do throws(MappingError) {
                    mapping = try mapping.allowing(allow)
                } catch {
                    notImported(rule, "\(host)/\(proto) -> \(targetText): \(error)")
                    continue
                }
            }
            // (IPv6 drops ::1 from other interfaces before PREROUTING; IPv4 lets 127.0.0.1 through.)
            if let address = hostAddress, address.isLoopback, address.family == .ipv4, natPaths.contains(where: { $0.hook == .prerouting }) {
                mappingCaveats.append("reached from PREROUTING, the rule also forwarded packets other hosts sent to \(address) (the CVE-2020-8558 hole); nftfwd serves \(address) to this host's own clients only, through 'nftfwd relay'")
            }
            candidates.append(Candidate(mapping: mapping, lines: [rule.line], rule: rule.text, hooks: Set(natPaths.map(\.hook)),
                                        rank: order[rule.line] ?? Int.max, catchesTransit: catchesTransit, caveats: mappingCaveats))
        }
    }

    static func proto(_ text: String) -> Proto? {
        switch text {
        case "6": return .tcp
        case "17": return .udp
        case "132": return .sctp
        default: return Proto(rawValue: text)
        }
    }

    // MARK: - MASQUERADE

    mutating func masquerade(_ rule: IptablesRule, options: [String], paths: Set<NatPath>) {
        guard paths.contains(where: { $0.hook == .postrouting }) else {
            return notImported(rule, "MASQUERADE in a chain POSTROUTING does not lead to: iptables masquerades in POSTROUTING only")
        }
        if !rule.unsupported.isEmpty || !options.isEmpty {
            let what = rule.unsupported.map { "'\($0)'" } + (options.isEmpty ? [] : ["MASQUERADE option(s) '\(options.joined(separator: " "))'"])
            return notImported(rule, "conditions nftfwd's masquerade cannot carry: " + what.joined(separator: "; "))
        }
        // Docker's hairpin rule: a container reaching its own published port through the host.
        if let s = rule.source, let d = rule.destination, !s.negated, !d.negated, s.isHost, d.isHost, s.address == d.address,
           rule.proto != nil, rule.dports != nil, rule.inInterface == nil, rule.outInterface == nil {
            notes.append(ImportNote(.notNeeded, lines: [rule.line],
                                    "Docker's hairpin masquerade (a container reaching its own published port through the host): nftfwd masquerades hairpin connections by itself"))
            return
        }
        // Docker without its userland proxy: the host's own connections, DNAT'd from 127.0.0.1
        // (route_localnet), leave through the bridge with a loopback source unless masqueraded.
        if rule.sourceIsLocal, let o = rule.outInterface, !o.negated, rule.source == nil, rule.destination == nil,
           rule.proto == nil, rule.dports == nil, rule.inInterface == nil {
            notes.append(ImportNote(.notNeeded, lines: [rule.line],
                                    "masquerade of this host's own connections leaving on \(o.name) (Docker without userland proxy, for DNAT from 127.0.0.1 with route_localnet): nftfwd serves 127.0.0.1 and ::1 with 'nftfwd relay' instead"))
            return
        }
        if let s = rule.source, !s.negated, rule.destination == nil, rule.proto == nil, rule.dports == nil,
           rule.inInterface == nil, !rule.sourceIsLocal, !rule.destinationIsLocal, rule.outInterface?.negated ?? true {
            let imported: MasqueradeRule
            do { imported = try MasqueradeRule.parse(subnet: "\(s.address)/\(s.prefix)", outNot: rule.outInterface?.name) } catch {
                return notImported(rule, error.description)
            }
            if let i = masquerades.firstIndex(where: { $0.rule == imported }) {
                masquerades[i].lines.append(rule.line)
                masquerades[i].rank = min(masquerades[i].rank, order[rule.line] ?? Int.max)
            } else {
                masquerades.append((imported, [rule.line], rule.text, order[rule.line] ?? Int.max))
            }
            return
        }
        var has: [String] = []
        if rule.source == nil { has.append("no source subnet") }
        if let s = rule.source, s.negated { has.append("'\(s.written("-s"))'") }
        if let d = rule.destination { has.append("'\(d.written("-d"))'") }
        if let o = rule.outInterface, !o.negated { has.append("'\(o.written("-o"))'") }
        if let i = rule.inInterface { has.append("'\(i.written("-i"))'") }
        if let p = rule.proto { has.append("'-p \(p)'") }
        if let ports = rule.dports { has.append("'--dport \(ports.joined(separator: ","))'") }
        if rule.sourceIsLocal || rule.destinationIsLocal { has.append("'-m addrtype'") }
        notImported(rule, "nftfwd masquerades traffic from a source subnet ('-s NET'), leaving by any interface or by any but one ('! -o IF'); this rule has " + has.joined(separator: ", "))
    }

    // MARK: - Other targets

    static func otherTargetReason(_ name: String, _ options: [String]) -> String {
        switch name {
        case "REDIRECT":
            return "REDIRECT sends the traffic to this host itself: nftfwd forwards to an address; publish the local service by its address instead (nftfwd add PORT ADDR:PORT)"
        case "SNAT":
            return "SNAT to a fixed source address: nftfwd only masquerades (to the outgoing interface's address), by source subnet"
        case "NETMAP":
            return "NETMAP translates whole subnets: nftfwd publishes ports"
        case "DROP", "REJECT":
            return "\(name) in the nat table filters traffic: nftfwd does not filter"
        case "RETURN", "ACCEPT":
            return "\(name) with options '\(options.joined(separator: " "))' is not understood"
        default:
            return "target \(name) does not publish a port, and nftfwd has no equivalent"
        }
    }

    mutating func notImported(_ rule: IptablesRule, _ why: String) {
        notes.append(ImportNote(.notImported, lines: [rule.line], why, rule: rule.text))
    }

    // MARK: - The result

    mutating func finish() -> IptablesImport {
        // "First" is first in the order iptables evaluates the rules, not in the order of the lines.
        let candidates = candidates.enumerated().sorted { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }.map(\.element)
        // The same mapping from several rules (a PREROUTING and an OUTPUT rule, say) is one.
        var merged: [Candidate] = []
        var byLabel: [String: Int] = [:]
        for candidate in candidates {
            if let i = byLabel[candidate.mapping.label] {
                merged[i].lines += candidate.lines
                merged[i].hooks.formUnion(candidate.hooks)
                merged[i].catchesTransit = merged[i].catchesTransit || candidate.catchesTransit
                merged[i].caveats += candidate.caveats.filter { !merged[i].caveats.contains($0) }
                if candidate.mapping.comment != merged[i].mapping.comment {
                    merged[i].caveats.append("another rule for the same mapping has the comment \"\(candidate.mapping.comment)\"; the first rule's is kept")
                }
            } else {
                byLabel[candidate.mapping.label] = merged.count
                merged.append(candidate)
            }
        }

        // iptables applies the first matching rule; nftfwd holds one mapping per port, so of two
        // that claim the same packets the first is taken and the second refused, with the words
        // `apply` would use.
        var accepted: [Candidate] = []
        if (try? Publisher.checkNoConflicts(merged.map(\.mapping))) != nil {
            accepted = merged
        } else {
            for candidate in merged {
                do {
                    try Publisher.checkNoConflicts(accepted.map(\.mapping) + [candidate.mapping])
                    accepted.append(candidate)
                } catch {
                    var why = error.description
                    if case .conflict = error, let first = accepted.first(where: { $0.mapping.conflicts(with: candidate.mapping) }) {
                        why = "\(candidate.mapping.label) claims the packets of \(first.mapping.label) from \(ImportNote.lineList(first.lines)), which iptables applies first (the first matching rule wins); an nftfwd mapping cannot share them"
                    }
                    notes.append(ImportNote(.notImported, lines: candidate.lines, why, rule: candidate.rule))
                }
            }
        }

        for candidate in accepted {
            let m = candidate.mapping
            var text = m.description
            if m.isLoopbackOnly { text += "  [bound to loopback: served by 'nftfwd relay']" }
            notes.append(ImportNote(.imported, lines: candidate.lines, text))
            var caveats = candidate.caveats
            if candidate.hooks == [.prerouting] {
                caveats.append("reached from PREROUTING only, so this host's own connections were not forwarded; nftfwd forwards them too")
            } else if candidate.hooks == [.output] {
                caveats.append("reached from OUTPUT only, so only this host's own connections were forwarded; nftfwd publishes the port to other hosts too")
            }
            if candidate.catchesTransit {
                caveats.append("no '-m addrtype --dst-type LOCAL' on the way, so the rule also caught traffic routed through this host to other addresses; nftfwd catches only traffic to this host's own addresses")
            }
            for caveat in caveats { notes.append(ImportNote(.caveat, lines: candidate.lines, caveat)) }
        }
        // Overlapping subnets: the first rule is the one iptables applies.
        var masquerade: [MasqueradeRule] = []
        let masquerades = masquerades.enumerated().sorted { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }.map(\.element)
        for (rule, lines, text, _) in masquerades {
            do {
                try MasqueradeRule.checkNoOverlaps(masquerade + [rule])
                masquerade.append(rule)
                notes.append(ImportNote(.imported, lines: lines, "masquerade \(rule)"))
            } catch {
                notes.append(ImportNote(.notImported, lines: lines, "\(error) (iptables applies the first matching rule)", rule: text))
            }
        }
        return IptablesImport(mappings: accepted.map(\.mapping).sorted(), masquerade: masquerade.sorted(), notes: notes)
    }
}
