import Testing
import NFTables
import NFTablesFake
import SystemErrno
@testable import HostChecks

@Suite("doctor's NAT check on the in-memory kernel")
struct NATSupportFakeTests {
    @Test("the whole table goes as a trial: accepted is OK, a refused nat rule FAILs naming it; nothing is kept")
    func trial() throws {
        let fake = NFTablesFake()
        #expect(try NATSupport.finding(session: fake).status == .ok)
        #expect(fake.trials == 1 && fake.commits == 0 && fake.ruleset.tables.isEmpty)

        // A kernel without nft_nat refuses every rule with a nat expression.
        fake.objection = { operation in
            guard case .addRule(let rule) = operation,
                  rule.expressions.contains(where: { if case .nat = $0 { return true }; return false }) else { return nil }
            return Errno(rawValue: 95)   // EOPNOTSUPP
        }
        let finding = try NATSupport.finding(session: fake)
        #expect(finding.status == .fail)
        #expect(finding.message.contains("the kernel refuses nftfwd's table: 'add rule publish:"))
        #expect(finding.message.contains("more)"))
        #expect(fake.ruleset.tables.isEmpty)
    }
}

@Suite("doctor's forward-chain check on the in-memory kernel")
struct ForwardFilterFakeTests {
    @Test("another table's forward chain with policy drop is found; a 'ct status dnat accept' rule in it is recognised")
    func dropChains() throws {
        let fake = NFTablesFake()
        let filter = TableSpec(name: "filter", family: .ipv4)
        var batch = Batch(table: filter)
        batch.addTable()
        batch.addChain(ChainSpec(name: "FORWARD", base: .init(type: "filter", hook: .forward, priority: 0, acceptByDefault: false)))
        batch.addChain(ChainSpec(name: "INPUT", base: .init(type: "filter", hook: .input, priority: 0, acceptByDefault: false)))
        try fake.commit(batch, expectingGeneration: nil)
        // nftfwd's own table never counts, nor chains of other hooks.
        var own = Batch(table: TableSpec(name: "nftfwd", family: .inet))
        own.addTable()
        own.addChain(ChainSpec(name: "fwd", base: .init(type: "filter", hook: .forward, priority: 0, acceptByDefault: false)))
        try fake.commit(own, expectingGeneration: nil)

        var chains = try ForwardFilter.dropChains(session: fake, ownTable: "nftfwd")
        #expect(chains.map(\.nftName) == ["ip filter FORWARD"])
        #expect(chains.first?.acceptsDNAT == false)

        // ct status dnat accept, as nft compiles it (host byte order: amd64).
        var rule = Batch(table: filter)
        rule.addRule(RuleSpec(chain: "FORWARD", [.conntrack(.status, into: .r1), .bitwise(.r1, mask: [0x20, 0, 0, 0], xor: [0, 0, 0, 0]),
                                                 .compare(.r1, .neq, [0, 0, 0, 0]), .counter, .verdict(.accept)]), describedAs: "ct status dnat accept")
        try fake.commit(rule, expectingGeneration: nil)
        chains = try ForwardFilter.dropChains(session: fake, ownTable: "nftfwd")
        #expect(chains.first?.acceptsDNAT == true)
    }
}
