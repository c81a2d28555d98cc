import Testing
import TestSupport
import NFTables
import NFTablesFake
@testable import PortForwarding

/// The nft commands `WireGoldenTests` names beside the pinned bytes make the kernel hold the
/// same table: nftfwd's batches in one namespace, the commands in another, the listings equal.
@Suite("Kernel: the golden wire bytes' nft commands", .kernelTest)
struct GoldenWireKernelTests {
    static let golden = repositoryRoot + "/Tests/PortForwardingTests/WireGolden"
    static let addCommand = #"create element inet nftfwd dnat4_any { tcp . 8080 comment "8080/tcp -> 10.0.0.2:80" : 10.0.0.2 . 80 }"#
    static let deleteCommand = "delete element inet nftfwd dnat4_any { tcp . 8080 }"

    @Test("creation, an element added, an element deleted: nftfwd's batches and the annotated commands list alike")
    func annotationsMatch() throws {
        let ours = try Lab(hostOnly: "gwo")
        defer { ours.destroy() }
        let theirs = try Lab(hostOnly: "gwt")
        defer { theirs.destroy() }
        let layout = TableLayout(name: "nftfwd")
        let mapping = try Mapping.parse(host: "8080", target: "10.0.0.2:80")

        try inNamespace(ours.host) {
            var batch = Batch(table: layout.table)
            layout.create(in: &batch)
            try NFTables().commit(batch, expectingGeneration: nil)
        }
        try theirs.net.exec(theirs.host, ["nft", "-f", GoldenWireKernelTests.golden + "/create-table.nft"])
        let created = try ours.table()
        #expect(created == (try theirs.table()))
        #expect(created == (try Command.check(["cat", GoldenWireKernelTests.golden + "/create-table.nft"]).stdout),
                "create-table.nft is the listing of the table nftfwd creates")

        try inNamespace(ours.host) {
            var batch = Batch(table: layout.table)
            try Publisher(session: NFTablesFake()).addElements(of: mapping, to: &batch)
            try NFTables().commit(batch, expectingGeneration: nil)
        }
        try theirs.net.exec(theirs.host, ["nft", GoldenWireKernelTests.addCommand])
        let added = try ours.table()
        #expect(added.contains(#"elements = { tcp . 8080 counter packets 0 bytes 0 comment "8080/tcp -> 10.0.0.2:80" : 10.0.0.2 . 80 }"#))
        #expect(added == (try theirs.table()))
        // Both were exclusive creations: a second one is refused alike.
        #expect(theirs.net.run(theirs.host, ["nft", GoldenWireKernelTests.addCommand]).status != 0)

        try inNamespace(ours.host) {
            var batch = Batch(table: layout.table)
            try Publisher(session: NFTablesFake()).deleteElements(of: mapping, from: &batch)
            try NFTables().commit(batch, expectingGeneration: nil)
        }
        try theirs.net.exec(theirs.host, ["nft", GoldenWireKernelTests.deleteCommand])
        #expect(try ours.table() == created)
        #expect(try theirs.table() == created)
    }
}
