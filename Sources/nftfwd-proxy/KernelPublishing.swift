#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding
import NetworkAddress
import RelayReport
import SavedState

/// `NFTFWD_PROXY_PUBLISH=1`: besides relaying, the proxy publishes its mapping in nftfwd's
/// table, so that dockerd run with `--iptables=false` (which then writes no DNAT rule) still
/// publishes the port to other hosts and to the host's own non-loopback addresses, through the
/// kernel. 127.0.0.1 keeps coming to the proxy's own listener (the table never DNATs loopback),
/// and an IPv6 listener in front of an IPv4 container too (the kernel cannot translate between
/// the families): those are not published.
///
/// The mapping's comment, `nftfwd-proxy:PID`, names its owner. A mapping whose owner is gone
/// (kill -9, a dockerd crash: the process no longer exists, or is no nftfwd-proxy) is taken
/// over by the next proxy for the port, in the same batch that publishes the new one; any other
/// mapping in the way fails the start, as a taken port does. At exit the proxy removes what it
/// published, in one batch of a few netlink messages (bounded: the publisher's retries are).
struct KernelPublishing {
    static let setting = "NFTFWD_PROXY_PUBLISH"
    /// The table to publish in (`NFTFWD_PROXY_TABLE`, default nftfwd).
    static var table: String { getenv("NFTFWD_PROXY_TABLE").map { String(cString: $0) } ?? "nftfwd" }

    static var requested: Bool { getenv(setting).map { String(cString: $0) == "1" } ?? false }

    let publisher: Publisher
    let owner: String
    let mapping: Mapping

    static func ownerComment(pid: Int32) -> String { "nftfwd-proxy:\(pid)" }

    /// Publishes `proto` `hostIP`:`hostPort` -> `containerIP`:`containerPort`, or returns nil
    /// when only the proxy itself can serve it (loopback, or another family than the container's).
    static func start(proto: String, host: IPAddress, hostPort: UInt16, target: IPAddress, containerPort: UInt16) throws -> KernelPublishing? {
        if host.isLoopback || host.family != target.family { return nil }
        let owner = ownerComment(pid: getpid())
        let mapping = try Mapping(proto: try Proto.parse(proto), host: Endpoint(address: host, ports: PortRange(hostPort)),
                                  target: Endpoint(address: target, ports: PortRange(containerPort)), comment: owner)
        try refuseIfUndone(table: table)
        let publisher = try Publisher(tableName: table)
        // One proxy per published port: rules checked before are not parsed again (VerifiedRules).
        let rules = VerifiedRulesFile.onDemand(table: table); publisher.verifiedRules = VerifiedRules(load: rules.load, store: rules.store)
        if let file = NamespaceRecordFile.layout(table: table) { publisher.layoutRecords = LayoutRecords(kernel: file.kernel, load: file.load, store: file.overwrite) }
        publisher.warn = { printError("nftfwd-proxy: \($0)") }
        _ = try publisher.publish([mapping], takingOver: { orphaned($0.comment) })
        return KernelPublishing(publisher: publisher, owner: owner, mapping: mapping)
    }

    /// A relay started with --restore-from keeps the table equal to its file and would delete
    /// our mapping at its next poll: the port would then silently lose its DNAT while `docker
    /// run` reported success. Refused at start instead, as `nftfwd add` and the CNI plugin do.
    /// (A relay that does not answer in time is not waited for: dockerd waits for us.)
    static func refuseIfUndone(table: String) throws {
        guard case .status(let status) = StatusChannel.ask(table: table, timeoutMilliseconds: 500), let file = status.restoreFrom else { return }
        throw MappingError.invalid("nftfwd relay (pid \(status.pid)) keeps table inet \(table) equal to \(file) and would undo this mapping: give the proxies a table of their own (NFTFWD_PROXY_TABLE in dockerd's environment), or run that relay without --restore-from")
    }

    /// Removes what this proxy published; returns the error text, if any (the proxy exits anyway).
    func stop() -> String? {
        let owner = self.owner
        do {
            // Looked up by its own keys: the table may hold thousands of other mappings.
            try publisher.removeAll(where: { $0.comment == owner }, near: [mapping])
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Whether `comment` names a proxy that is gone: `nftfwd-proxy:PID` where PID does not
    /// exist, or is another program (its pid reused). Every other comment has an owner we
    /// cannot judge, and is left alone.
    static func orphaned(_ comment: String) -> Bool {
        let prefix = "nftfwd-proxy:"
        guard comment.hasPrefix(prefix), let pid = Int32(comment.dropFirst(prefix.count)), pid > 0 else { return false }
        if pid == getpid() { return false }
        if kill(pid, 0) != 0 { return errno == ESRCH }
        return command(of: pid) != "nftfwd-proxy"
    }

    /// /proc/PID/comm without its newline, or nil if it cannot be read.
    static func command(of pid: Int32) -> String? {
        guard let fd = try? Posix.open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC) else { return nil }
        defer { Posix.close(fd) }
        guard let bytes = try? Posix.readOnce(fd, count: 64), !bytes.isEmpty else { return nil }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
