import Testing
import TestSupport

/// The test support's own promises about the processes the tests start; no root needed.
@Suite("Test support: what the processes the tests start inherit")
struct TestSupportTests {
    /// NFTFWD_SAVE in the developer's shell must not reach an nftfwd the tests start: it would
    /// save to the host's /etc/nftfwd, which `ip netns exec` shares.
    @Test("NFTFWD_SAVE never reaches a child; everything else does")
    func saveSettingWithheld() {
        #expect(Command.childEnvironment(["PATH=/usr/bin:/bin", "NFTFWD_SAVE=1", "NFTFWD_SAVED=2", "A=NFTFWD_SAVE=3"])
                == ["PATH=/usr/bin:/bin", "NFTFWD_SAVED=2", "A=NFTFWD_SAVE=3"])
        let env = Command.run(["/usr/bin/env"], environment: ["NFTFWD_SAVE=/etc/nftfwd/mappings.json", "KEPT=1"])
        #expect(env.stdout == "KEPT=1\n", "\(env)")
        // As a test sets it on purpose, on the command line, it is there.
        let explicit = Command.run(["/usr/bin/env", "-i", "NFTFWD_SAVE=/tmp/x.json", "/usr/bin/env"])
        #expect(explicit.stdout == "NFTFWD_SAVE=/tmp/x.json\n")
    }
}
