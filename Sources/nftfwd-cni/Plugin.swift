import NFTables
import PortForwarding
import PublishedRelay
import SavedState

/// ADD, DEL and CHECK against nftfwd's table in the runtime's network namespace (the one the
/// plugin runs in). Each change is one batch through `Publisher`.
struct Plugin {
    var environment: Environment
    var config: NetworkConfig
    var log: (String) -> Void

    var owner: String { Owner.comment(containerID: environment.containerID, ifname: environment.ifname) }

    func publisher() throws(CNIError) -> Publisher {
        do {
            let publisher = try Publisher(tableName: config.table)
            // Each ADD and DEL is a process: rules checked before are not parsed again (VerifiedRules).
            let rules = VerifiedRulesFile.onDemand(table: config.table); publisher.verifiedRules = VerifiedRules(load: rules.load, store: rules.store)
            if let file = NamespaceRecordFile.layout(table: config.table) { publisher.layoutRecords = LayoutRecords(kernel: file.kernel, load: file.load, store: file.overwrite) }
            publisher.warn = { log($0) }
            return publisher
        } catch {
            throw Plugin.failure(error)
        }
    }

    /// Publishes the container's mappings (and its subnets' masquerade, when asked) and
    /// answers prevResult, as portmap does.
    func add() throws(CNIError) -> JSON {
        guard let prevResult = config.prevResult else {
            if config.portMappings.isEmpty { return .object([("cniVersion", .string(config.cniVersion))]) }
            throw NetworkConfig.invalid("nftfwd-cni must be chained after a plugin that gives the container its addresses (bridge, ptp): the config has no prevResult")
        }
        let addresses = try ContainerAddresses(prevResult: prevResult)
        let mappings = try ContainerMappings.make(config, addresses, owner: owner, note: log)
        var masquerade = config.masqueradeSubnets
        if config.masquerade && masquerade.isEmpty { masquerade = addresses.subnets }
        let rules = masquerade.map { MasqueradeRule(subnet: $0, outNot: config.masqueradeOutNot) }
        if !config.snat {
            log("\"snat\": false is ignored: nftfwd always masquerades hairpin connections (a container reaching a port published to itself or a neighbour), which need it to work")
        }
        if !mappings.isEmpty || !rules.isEmpty {
            try refuseIfUndone()
            let publisher = try publisher()
            do {
                // What this container and interface published before (an ADD run again
                // without DEL, its address changed) is its own to replace, never a conflict.
                let owner = self.owner
                let outcome = try publisher.publish(mappings, masquerade: rules, takingOver: { $0.comment == owner })
                log("published \(outcome.added.count) mapping(s) for \(owner) in table \(config.table)"
                    + (outcome.unchanged.isEmpty ? "" : ", \(outcome.unchanged.count) already were")
                    + (outcome.replaced.isEmpty ? "" : ", replacing \(outcome.replaced.count) of its own")
                    + (outcome.masqueradeAdded.isEmpty ? "" : "; masquerading \(outcome.masqueradeAdded.map(\.description).joined(separator: ", "))"))
            } catch {
                throw Plugin.failure(error)
            }
            noteLoopback(mappings)
        }
        return Plugin.passingOn(prevResult, as: config.cniVersion)
    }

    /// Removes every mapping this container and interface published, whatever the config now
    /// says; nothing left is success. Masquerade rules stay: they belong to the network, which
    /// other containers share.
    func del() throws(CNIError) {
        let publisher = try publisher()
        let owner = self.owner
        do {
            let removed = try publisher.removeAll { $0.comment == owner }
            if !removed.isEmpty { log("removed \(removed.count) mapping(s) of \(owner) from table \(config.table)") }
        } catch {
            throw Plugin.failure(error)
        }
    }

    /// The container's mappings are published, exactly as the config and prevResult say, and
    /// no other mapping carries its name.
    func check() throws(CNIError) {
        guard config.cniVersion != "0.3.0" && config.cniVersion != "0.3.1" else {
            throw CNIError(code: CNIError.incompatibleVersion, msg: "CHECK is not defined for cniVersion \(config.cniVersion)", details: "use 0.4.0 or later")
        }
        guard let prevResult = config.prevResult else {
            throw NetworkConfig.invalid("CHECK needs the prevResult of the ADD it checks")
        }
        let expected = Set(try ContainerMappings.make(config, try ContainerAddresses(prevResult: prevResult), owner: owner, note: { _ in }))
        let published: Set<Mapping>
        do {
            published = Set(try publisher().list().mappings.map(\.mapping).filter { $0.comment == owner })
        } catch let error as CNIError {
            throw error
        } catch {
            throw Plugin.failure(error)
        }
        let missing = expected.subtracting(published).sorted(), extra = published.subtracting(expected).sorted()
        guard missing.isEmpty && extra.isEmpty else {
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing: " + missing.map(\.label).joined(separator: ", ")) }
            if !extra.isEmpty { parts.append("not in the config: " + extra.map(\.label).joined(separator: ", ")) }
            throw CNIError(code: CNIError.checkFailed, msg: "the mappings of \(owner) in table \(config.table) differ from the config",
                           details: parts.joined(separator: "; "))
        }
    }

    /// A relay that restores the table from a file would delete what we add at its next poll.
    func refuseIfUndone() throws(CNIError) {
        if case .status(let status) = StatusChannel.ask(table: config.table, timeoutMilliseconds: 500), let file = status.restoreFrom {
            throw CNIError(code: CNIError.wouldBeUndone, msg: "nftfwd relay (pid \(status.pid)) restores table \(config.table) from \(file) and would undo this container's mappings",
                           details: "give the CNI plugin a table of its own (\"table\" in the network config), or run the relay without --restore-from")
        }
    }

    /// 127.0.0.1 and ::1 are served by `nftfwd relay`, never by setting route_localnet.
    func noteLoopback(_ mappings: [Mapping]) {
        guard mappings.contains(where: { $0.host.address == nil || $0.isLoopbackOnly }) else { return }
        switch StatusChannel.ask(table: config.table, timeoutMilliseconds: 500) {
        case .status: break
        case .noRelay:
            log("no 'nftfwd relay' serves table \(config.table) here: the mappings are not reachable over 127.0.0.1 or ::1 (route_localnet is never set; start '\(config.table == "nftfwd" ? "nftfwd relay" : "nftfwd --table \(config.table) relay")' to serve them)")
        case .notTrusted(let uid, _):
            log("the relay status socket of table \(config.table) is held by uid \(uid), not root: 127.0.0.1 and ::1 may not be served")
        case .noAnswer(let why):
            log("could not ask the relay of table \(config.table) whether it serves 127.0.0.1 and ::1: \(why)")
        }
    }

    /// prevResult as our result, in the config's version (the spec: a plugin that changes no
    /// interface or address passes prevResult on).
    static func passingOn(_ prevResult: JSON, as version: String) -> JSON {
        guard case .object(let fields) = prevResult else { return prevResult }
        return .object([("cniVersion", .string(version))] + fields.filter { $0.0 != "cniVersion" })
    }

    /// Publisher's errors as CNI errors: the request's (a conflict, a mapping nftfwd refuses),
    /// the system's, and a ruleset that kept changing under us (try again later).
    static func failure(_ error: any Error) -> CNIError {
        switch error {
        case let e as CNIError: return e
        case let e as PublishError:
            switch e {
            case .mapping(let e): return failure(e)
            case .netlink(let e): return failure(e)
            case .foreignTable(let e): return failure(e)
            case .tableMoving: return CNIError(code: CNIError.system, msg: "nftfwd-cni failed", details: "\(e)")
            }
        case let e as MappingError:
            if case .conflict = e { return CNIError(code: CNIError.portConflict, msg: "port conflict, nothing was changed", details: "\(e)") }
            return CNIError(code: CNIError.invalidNetworkConfig, msg: "nftfwd refuses a mapping, nothing was changed", details: "\(e)")
        case let e as NetlinkError:
            if case .rejected(let list) = e, list.contains(where: { $0.errno == .restart }) {
                return CNIError(code: CNIError.tryAgainLater, msg: "the ruleset kept changing while nftfwd-cni computed its change", details: "\(e)")
            }
            return CNIError(code: CNIError.system, msg: "the kernel refused the change", details: "\(e)")
        case let e as ForeignTableError:
            return CNIError(code: CNIError.system, msg: "nftfwd cannot read its table", details: "\(e)")
        default:
            return CNIError(code: CNIError.system, msg: "nftfwd-cni failed", details: "\(error)")
        }
    }
}
