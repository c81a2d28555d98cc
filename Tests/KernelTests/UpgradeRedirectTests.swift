import Testing
import TestSupport

/// A table of nftfwd 0.3 (no loopback redirect: no redirect4/redirect6 maps, no `loopback`
/// chain) is read as it is and completed by the next change; one lacking only part of the
/// redirect is foreign.
@Suite("Kernel: a table of nftfwd 0.3 gets the loopback redirect", .kernelTest)
struct UpgradeRedirectTests {
    /// A current table with the redirect's objects taken out: what nftfwd 0.3 wrote.
    static func version03(_ lab: Lab, keepMap: Bool = false) throws {
        try lab.nftfwdOK("add", "8080", "198.18.2.2:80")
        try lab.net.exec(lab.host, ["nft", "delete", "chain", "inet", "nftfwd", "loopback"])
        try lab.net.exec(lab.host, ["nft", "delete", "map", "inet", "nftfwd", "redirect4"])
        if !keepMap { try lab.net.exec(lab.host, ["nft", "delete", "map", "inet", "nftfwd", "redirect6"]) }
    }

    @Test("read as it is; the next add adds the maps and the chain in its batch")
    func upgraded() throws {
        let lab = try Lab(hostOnly: "up03")
        defer { lab.destroy() }
        try Self.version03(lab)
        #expect(try lab.nftfwdOK("ls").stdout.contains("198.18.2.2:80"))
        #expect(!(try lab.table()).contains("chain loopback"))
        try lab.nftfwdOK("add", "8081", "198.18.2.2:81")
        let table = try lab.table()
        #expect(table.contains("chain loopback") && table.contains("map redirect4") && table.contains("map redirect6"))
        #expect(try lab.nftfwdOK("ls").stdout.contains("198.18.2.2:81"))
    }

    @Test("half of the redirect missing is not an earlier layout: refused as foreign")
    func halfMissing() throws {
        let lab = try Lab(hostOnly: "up03h")
        defer { lab.destroy() }
        try Self.version03(lab, keepMap: true)
        let ls = lab.nftfwd("ls")
        #expect(ls.status != 0)
        #expect(ls.stderr.contains("was changed outside nftfwd"), "\(ls.stderr)")
    }
}
