import Testing
import TestSupport

/// A real Docker engine (Debian's docker.io 20.10, downloaded and unpacked, never installed)
/// running in its own network namespace with `--userland-proxy-path`: nftfwd-proxy must do
/// what the genuine docker-proxy does, and the genuine one goes through the same script as the
/// reference. contrib/testing/docker-engine.sh does the work and prints one line per check.
///
/// Serialized: both tests share the script's cache of Debian binaries and the image (the
/// script also locks it while filling it), and two engines at once only slow each other down.
@Suite("Kernel: a real Docker engine with nftfwd-proxy as its userland proxy",
       .kernelTest,
       .serialized)
struct DockerEngineTests {
    static let script = repositoryRoot + "/contrib/testing/docker-engine.sh"

    /// nftfwd-proxy, built beside the test bundle like nftfwd.
    static let nftfwdProxy: String = {
        var parts = nftfwdBinary.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/nftfwd-proxy"
    }()

    /// Fills the cache (host tools, Debian binaries, image) if needed and returns the genuine
    /// docker-proxy's path. On a fresh machine this downloads and installs, hence its own bound,
    /// so the test run proper keeps its 300 s.
    static func prepare() throws -> String {
        let result = Command.run(["/bin/bash", script, "--genuine-proxy-path"], timeout: 600)
        try #require(result.status == 0, "docker-engine.sh --genuine-proxy-path:\n\(result)")
        return result.stdout.trimmingCharacters()
    }

    static func check(proxy: String) {
        let result = Command.run(["/bin/bash", script, proxy], timeout: 300)
        #expect(result.status == 0, "docker-engine.sh \(proxy):\n\(result)")
    }

    @Test("dockerd publishes ports through nftfwd-proxy: TCP and UDP, 127.0.0.1 and [::1], bind errors reach docker run")
    func nftfwdProxyServes() throws {
        _ = try Self.prepare()
        Self.check(proxy: Self.nftfwdProxy)
    }

    @Test("the same checks pass with the genuine docker-proxy (the reference behaviour)")
    func genuineDockerProxyServes() throws {
        Self.check(proxy: try Self.prepare())
    }
}
