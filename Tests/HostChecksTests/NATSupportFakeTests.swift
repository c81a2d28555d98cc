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
