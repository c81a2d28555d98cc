/// The fingerprint (NFTables' `RuleFingerprint`) of a table's rules that a full check by this
/// very binary found to be exactly today's rules, kept between processes (the CLI keeps it in
/// the runtime directory, `VerifiedRulesFile`). When the kernel's rules fingerprint the same,
/// `TableReader.verifyStructure` skips parsing them and building today's rules to compare:
/// half of an `add`'s instructions (callgrind: 4.6 of 9.0 million).
///
/// It is a memo, not a second truth: it is believed only for byte-equal rules, which the full
/// check accepted, so a changed rule, a counter aside, always gets the full check (and its
/// error). It must name the binary that wrote it, because another nftfwd's layout may call the
/// same rules out of date: the file is per executable.
public struct VerifiedRules {
    public let load: () -> [UInt8]?
    public let store: ([UInt8]) -> Void

    public init(load: @escaping () -> [UInt8]?, store: @escaping ([UInt8]) -> Void) {
        self.load = load; self.store = store
    }
}
