import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Kernel tests need root: namespaces and nftables. In CI (root) they always run, and with
/// CI=true they run even as another user (and then fail loudly); a developer running as
/// another user sees them reported as skipped, with this reason.
let needsRoot = runningAsRoot || runningInCI

extension Trait where Self == ConditionTrait {
    /// The one condition every kernel suite carries.
    static var kernelTest: Self {
        .enabled(if: needsRoot, "kernel tests need root (network namespaces, nftables); run as root, e.g. sudo bash contrib/test.sh")
    }
}

/// The repository root, found from this file's path.
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)   // Tests/KernelTests/Lab.swift
    return parts.joined(separator: "/")
}()

/// The nftfwd binary built beside the test bundle (.build/<config>/nftfwd).
let nftfwdBinary: String = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let exe = n > 0 ? String(cString: buffer) : ""
    let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return dir + "/nftfwd"
}()

let netpeer = repositoryRoot + "/contrib/testing/netpeer.py"

/// Three namespaces: a client, the host that publishes ports, and a target serving on every
/// port it is asked to (TCP and UDP, IPv4 and IPv6) and naming the client address it saw.
///
///     client 198.18.1.2 ── 198.18.1.1 (+ .3) host 198.18.2.1 ── 198.18.2.2 target
///            2001:db8:1::2 ── 2001:db8:1::1 (+ ::3)  2001:db8:2::1 ── 2001:db8:2::2
///
/// The addresses are documentation/benchmark ranges that exist only inside these namespaces.
final class Lab {
    let net: TestNetwork
    let client: String, host: String, target: String

    init(_ label: String, targetPorts: String = "80,9000-9003") throws {
        net = TestNetwork(label)
        do {
            client = try net.add("c")
            host = try net.add("h")
            target = try net.add("t")
            try net.link(client, "c0", ["198.18.1.2/24", "2001:db8:1::2/64"], host, "h0",
                         ["198.18.1.1/24", "198.18.1.3/24", "2001:db8:1::1/64", "2001:db8:1::3/64"])
            try net.link(host, "h1", ["198.18.2.1/24", "2001:db8:2::1/64"], target, "t0", ["198.18.2.2/24", "2001:db8:2::2/64"])
            try net.sh(client, "ip route add default via 198.18.1.1 && ip -6 route add default via 2001:db8:1::1")
            try net.sh(target, "ip route add default via 198.18.2.1 && ip -6 route add default via 2001:db8:2::1")
            try net.sh(host, "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
            let ready = "/tmp/\(net.prefix)-ready"
            unlink(ready)
            net.background(target, ["python3", netpeer, "serve", targetPorts, ready])
            guard TestNetwork.waitUntil(timeout: 15, { access(ready, F_OK) == 0 }) else {
                throw NamespaceError(description: "target server (netpeer.py) not ready in 15 s")
            }
            unlink(ready)
        } catch {
            net.destroy()
            throw error
        }
    }

    /// Only the host namespace, for tests that look at the table alone.
    init(hostOnly label: String) throws {
        net = TestNetwork(label)
        client = ""
        target = ""
        do { host = try net.add("h") } catch { net.destroy(); throw error }
    }

    func destroy() { net.destroy() }

    /// Runs nftfwd in the host namespace.
    @discardableResult
    func nftfwd(_ args: String..., stdin: String? = nil) -> CommandResult {
        net.run(host, [nftfwdBinary] + args, stdin: stdin)
    }

    /// Runs nftfwd and throws unless it exits 0.
    @discardableResult
    func nftfwdOK(_ args: String..., stdin: String? = nil) throws -> CommandResult {
        try net.exec(host, [nftfwdBinary] + args, stdin: stdin)
    }

    func ruleset() throws -> String { try net.exec(host, ["nft", "list", "ruleset"]).stdout }

    func table(_ name: String = "nftfwd") throws -> String { try net.exec(host, ["nft", "list", "table", "inet", name]).stdout }

    /// What the target answered to `proto` traffic sent from `ns` to `address`:`port`,
    /// or "ERROR <reason>".
    func ask(from ns: String, _ proto: String, _ address: String, _ port: Int) -> String {
        let r = net.run(ns, ["python3", netpeer, "ask", proto, address, "\(port)"], timeout: 20)
        return r.stdout.trimmingCharacters()
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.last?.isWhitespace == true { s = s.dropLast() }
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        return String(s)
    }
}
