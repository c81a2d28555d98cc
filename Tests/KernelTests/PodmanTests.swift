import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A real runtime: Debian's podman (rootful, CNI backend) with a conflist naming nftfwd-cni in
/// place of portmap, in namespaces and paths of contrib/testing/podman-cni.sh's own.
@Suite("Kernel: podman publishes through nftfwd-cni", .kernelTest, .serialized,
       .enabled(if: access("/usr/bin/podman", X_OK) == 0, "needs Debian's podman (contrib/setup.sh installs it)"))
struct PodmanTests {
    @Test("podman run -p 8080:80 -p 8081:81/udp: reachable through DNAT and over 127.0.0.1 (TCP and UDP, the relay's redirect), no rule, no route_localnet; 50 ports add no rule; podman rm -f removes them")
    func podmanRun() throws {
        let script = repositoryRoot + "/contrib/testing/podman-cni.sh"
        let result = Command.run(["/bin/bash", script, CNILab.cniBinary, nftfwdBinary], timeout: 400)
        #expect(result.status == 0, "podman-cni.sh:\n\(result)")
        #expect(result.stdout.contains("ok podman rm -f removes 8080 and 8081"), "\(result.stdout)")
        #expect(result.stdout.contains("ok host: UDP echo through 127.0.0.1:8081"), "\(result.stdout)")
    }
}
