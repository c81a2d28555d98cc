import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The shell completions in contrib/completions are what the binary generates (no root needed).
@Suite("CLI: completions stay generated")
struct CompletionTests {
    @Test("contrib/completions/nftfwd.<shell> equals 'nftfwd --generate-completion-script <shell>'", arguments: ["bash", "zsh", "fish"])
    func inSync(shell: String) throws {
        let generated = try Command.check([nftfwdBinary, "--generate-completion-script", shell]).stdout
        let committed = try Command.check(["cat", "\(repositoryRoot)/contrib/completions/nftfwd.\(shell)"]).stdout
        #expect(generated == committed, "contrib/completions/nftfwd.\(shell) is out of date: run 'bash contrib/completions/generate.sh'")
    }
}

/// contrib/package-deb.sh, and the .deb it builds installed with dpkg into a scratch root
/// whose package database is a copy of this machine's: dpkg checks Depends against what is
/// really installed here, and nothing outside the scratch root changes.
@Suite("Kernel: the Debian package", .kernelTest)
struct PackageTests {
    @Test("builds, depends only on libc & co, libnftnl11 and libmnl0, installs, runs --version and doctor, survives a simulated reboot")
    func debian() throws {
        let scratch = try Command.check(["mktemp", "-d", "/tmp/nftfwd-deb-test.XXXXXX"]).stdout.trimmingCharacters()
        defer { Command.run(["rm", "-rf", scratch]) }
        // Incremental on .build-release (contrib/test.sh builds it before the tests run).
        let build = Command.run(["bash", "\(repositoryRoot)/contrib/package-deb.sh", "\(scratch)/out"], timeout: 1200)
        try #require(build.succeeded, "\(build)")
        let deb = build.stdout.trimmingCharacters()
        #expect(deb == "\(scratch)/out/nftfwd_0.3.0_amd64.deb")

        // Depends: exactly the libraries the binaries link.
        let depends = try Command.check(["dpkg-deb", "-f", deb, "Depends"]).stdout.trimmingCharacters()
        let names = depends.split(separator: ",").map { $0.split(separator: "(")[0].trimmingCharacters(in: " ") }
        #expect(Set(names) == ["libc6", "libgcc-s1", "libnftnl11", "libmnl0"], "Depends: \(depends)")
        let files = try Command.check(["dpkg-deb", "-c", deb]).stdout
        for path in ["./usr/sbin/nftfwd", "./usr/sbin/nftfwd-proxy", "./usr/lib/cni/nftfwd-cni", "./lib/systemd/system/nftfwd-relay.service",
                     "./lib/systemd/system/nftfwd-restore.service",
                     "./usr/share/man/man8/nftfwd.8.gz", "./usr/share/man/man8/nftfwd-proxy.8.gz", "./usr/share/man/man8/nftfwd-cni.8.gz",
                     "./usr/share/bash-completion/completions/nftfwd", "./usr/share/zsh/vendor-completions/_nftfwd",
                     "./usr/share/fish/vendor_completions.d/nftfwd.fish"] {
            #expect(files.contains(" \(path)\n"), "\(path) missing from the package")
        }

        // A scratch root with an empty package database: dpkg refuses, naming the dependencies.
        let root = "\(scratch)/root"
        func makeRoot(status: String) throws {
            Command.run(["rm", "-rf", root])
            try Command.check(["mkdir", "-p", "\(root)/var/lib/dpkg/updates", "\(root)/var/lib/dpkg/info"])
            try Command.check(["cp", status, "\(root)/var/lib/dpkg/status"])
        }
        try Command.check(["touch", "\(scratch)/empty-status"])
        try makeRoot(status: "\(scratch)/empty-status")
        let refused = Command.run(["dpkg", "--root=\(root)", "-i", deb])
        #expect(!refused.succeeded)
        #expect(refused.stderr.contains("nftfwd depends on libnftnl11"), "\(refused)")
        #expect(!Command.run(["dpkg", "--root=\(root)", "-s", "nftfwd"]).stdout.contains("Status: install ok installed"))

        // With this machine's package database (copied), the dependencies are met and it installs.
        try makeRoot(status: "/var/lib/dpkg/status")
        let installed = Command.run(["dpkg", "--root=\(root)", "-i", deb])
        try #require(installed.succeeded, "\(installed)")
        #expect(try Command.check(["dpkg", "--root=\(root)", "-s", "nftfwd"]).stdout.contains("Status: install ok installed"))
        #expect(try Command.check(["\(root)/usr/sbin/nftfwd", "--version"]).stdout == "0.3.0\n")
        #expect(try Command.check(["\(root)/usr/sbin/nftfwd-proxy", "-version"]).stdout.hasPrefix("nftfwd-proxy version 0.3.0"))
        let unit = try Command.check(["cat", "\(root)/lib/systemd/system/nftfwd-relay.service"]).stdout
        #expect(unit.contains("ExecStart=/usr/sbin/nftfwd relay"))

        // doctor, from the package, in a namespace of our own: all fine there, exit 0.
        let net = TestNetwork("deb")
        defer { net.destroy() }
        let ns = try net.add("h")
        let doctor = net.run(ns, ["\(root)/usr/sbin/nftfwd", "doctor"])
        #expect(doctor.status == 0, "\(doctor)")
        #expect(doctor.stdout.split(separator: "\n").count == 10)
        #expect(doctor.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("OK ") })
        // ... and one problem makes it say so and exit non-zero.
        try net.exec(ns, ["sysctl", "-qw", "net.ipv4.conf.lo.route_localnet=1"])
        #expect(net.run(ns, ["\(root)/usr/sbin/nftfwd", "doctor"]).status == 1)

        // A simulated reboot with the installed binary: publish, save, lose the ruleset, run
        // the restore unit's command (on a scratch file instead of /etc/nftfwd/mappings.json),
        // and everything is back.
        try net.exec(ns, ["sysctl", "-qw", "net.ipv4.conf.lo.route_localnet=0"])
        let nftfwd = "\(root)/usr/sbin/nftfwd"
        try net.exec(ns, [nftfwd, "add", "8080", "198.18.2.2:80", "--comment", "web"])
        try net.exec(ns, [nftfwd, "add", "127.0.0.1:6379", "198.18.2.2:6379"])
        try net.exec(ns, [nftfwd, "masquerade", "add", "198.18.2.0/24", "--out-not", "br0"])
        let saved = "\(scratch)/mappings.json"
        try net.exec(ns, [nftfwd, "save", saved])
        let before = try net.exec(ns, [nftfwd, "ls"]).stdout
        try net.exec(ns, ["nft", "flush", "ruleset"])
        #expect(try net.exec(ns, [nftfwd, "ls"]).stdout.hasPrefix("nothing published"))
        let restoreUnit = try Command.check(["cat", "\(root)/lib/systemd/system/nftfwd-restore.service"]).stdout
        let execStart = try #require(restoreUnit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        #expect(execStart == "ExecStart=/usr/sbin/nftfwd restore")
        let command = execStart.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        try net.exec(ns, ["\(root)\(command[0])"] + command.dropFirst() + [saved])
        #expect(try net.exec(ns, [nftfwd, "ls"]).stdout == before)
        #expect(try net.exec(ns, [nftfwd, "check", saved]).status == 0)

        // Removal takes every file back out.
        try Command.check(["dpkg", "--root=\(root)", "-r", "nftfwd"])
        #expect(Command.run(["test", "-e", "\(root)/usr/sbin/nftfwd"]).status != 0)
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
