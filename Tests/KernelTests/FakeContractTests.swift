import Testing
import TestSupport
import NFTables
import NFTablesFake
@testable import PortForwarding

/// The fake is only worth its tests if it answers as the kernel does: the same changes, made
/// through Publisher on both, must read back the same (chains, sets, rules with their handles,
/// every element), and the same bad batches must be refused with the same objections.
@Suite("Kernel: NFTablesFake answers as nf_tables does", .kernelTest)
struct FakeContractTests {
    @Test("same changes, same reads; same refusals")
    func sameAnswers() throws {
        let lab = try Lab(hostOnly: "fkc")
        defer { lab.destroy() }
        let mismatches = try inNamespace(lab.host) { () throws -> [String] in
            let kernel = try NFTables(), fake = NFTablesFake()
            let sessions: [(String, any NFTablesSession)] = [("kernel", kernel), ("fake", fake)]
            let layout = TableLayout(name: "nftfwd")
            for (_, session) in sessions {
                let publisher = try Publisher(session: session)
                _ = try publisher.add(try Mapping.parse(host: "8080", target: "10.0.0.2:80"))
                _ = try publisher.add(try Mapping.parse(host: "198.18.0.1:9000-9002", target: "10.0.0.3:9000-9002", proto: "udp"))
                _ = try publisher.add(try Mapping.parse(host: "127.0.0.1:7070", target: "[2001:db8::2]:70"))
                _ = try publisher.add(try Mapping.parse(host: "8443", target: "10.0.0.2:443").allowing(["192.0.2.0/24", "198.51.100.7/32"]))
                _ = try publisher.addMasquerade(try MasqueradeRule.parse(subnet: "10.88.0.0/24", outNot: "br0"))
                _ = try publisher.remove(host: try Endpoint.parse("198.18.0.1:9000-9002", what: "host"), proto: .udp)
            }
            var out: [String] = []
            func compare(_ what: String, _ read: (any NFTablesSession) throws -> String) {
                let answers = sessions.map { _, s in (try? read(s)) ?? "error" }
                if answers[0] != answers[1] { out.append("\(what):\n  kernel: \(answers[0])\n  fake:   \(answers[1])") }
            }
            compare("chains") { try $0.chains(of: layout.table).map { "\($0)" }.joined(separator: "\n") }
            compare("sets") { try $0.sets(of: layout.table).map { "\($0)" }.joined(separator: "\n") }
            compare("rules") { try $0.rules(of: layout.table).map { "\($0.chain) \($0.handle) \($0.values)" }.joined(separator: "\n") }
            for set in try fake.sets(of: layout.table).map(\.name) {
                compare("elements of \(set)") { session in
                    try session.elements(of: layout.table, map: set)
                        .map { "\($0.key) \($0.keyEnd) \($0.intervalEnd) \($0.value) \($0.comment ?? "-") \($0.packets)" }.sorted().joined(separator: "\n")
                }
            }
            let key = TableLayout.key(address: nil, proto: .tcp, port: 8080), missing = TableLayout.key(address: nil, proto: .tcp, port: 1)
            compare("lookup") { "\(try $0.lookup([key, missing], in: layout.table, map: "dnat4_any").map { $0?.comment ?? "none" })" }

            // Refusals: the objections named alike (the kernel's extended-ACK text aside).
            func refusal(_ batch: Batch, stale: Bool) -> (any NFTablesSession) throws -> String {
                { session in
                    let generation = try session.generation()
                    do throws(NetlinkError) { try session.commit(batch, expectingGeneration: stale ? generation &- 1 : generation) } catch {
                        guard case .rejected(let list) = error else { return "\(error)" }
                        return list.map { "\($0.operation): \($0.errno)" }.joined(separator: "; ")
                    }
                    return "committed"
                }
            }
            let mapping = try Mapping.parse(host: "8080", target: "10.0.0.2:80")
            var duplicate = Batch(table: layout.table)
            duplicate.addElement(TableLayout.elements(for: mapping)[0], to: "dnat4_any", describedAs: "8080/tcp")
            duplicate.deleteElement(Element(key: missing), from: "dnat4_any", describedAs: "1/tcp")
            duplicate.addElement(Element(key: [1, 2, 3]), to: "dnat4_any", describedAs: "short key")
            duplicate.addElement(Element(key: key), to: "nosuch", describedAs: "no such map")
            compare("refused batch") { try refusal(duplicate, stale: false)($0) }
            var fine = Batch(table: layout.table)
            fine.deleteElement(TableLayout.elements(for: mapping)[0], from: "dnat4_any", describedAs: "8080/tcp")
            compare("stale generation") { try refusal(fine, stale: true)($0) }
            compare("after the refusals") { "\(try $0.lookup([key], in: layout.table, map: "dnat4_any").map { $0?.comment ?? "none" })" }
            return out
        }
        #expect(mismatches == [], "\(mismatches.joined(separator: "\n"))")
    }
}
