/// How the kernel table differs from a desired state (a saved file): exactly what applying the
/// desired state would add and remove. `nftfwd diff` and `check` print it; the relay's
/// `--restore-from` repairs it.
public struct StateDifference: Sendable, Equatable {
    /// In the desired state, not in the kernel: applying adds them.
    public var missing: [Mapping]
    /// In the kernel, not in the desired state: applying removes them.
    public var extra: [Mapping]
    /// The same for masquerade rules (both empty when the document leaves them alone).
    public var missingMasquerade: [MasqueradeRule]
    public var extraMasquerade: [MasqueradeRule]

    public var isEmpty: Bool { missing.isEmpty && extra.isEmpty && missingMasquerade.isEmpty && extraMasquerade.isEmpty }

    /// Compares as `Publisher.apply` does: a mapping or rule counts as present only if it is
    /// there exactly (a comment-only change is one missing and one extra); masquerade rules only
    /// when `desiredMasquerade` is not nil (a bare array of mappings leaves them alone). No
    /// table is the same as an empty one.
    public init(desired: [Mapping], current: [Mapping],
                desiredMasquerade: [MasqueradeRule]? = nil, currentMasquerade: [MasqueradeRule] = []) {
        (missing, extra) = StateDifference.compare(desired, current)
        (missingMasquerade, extraMasquerade) = desiredMasquerade.map { StateDifference.compare($0, currentMasquerade) } ?? ([], [])
    }

    public init(_ document: StateDocument, _ snapshot: TableSnapshot) {
        self.init(desired: document.mappings, current: snapshot.mappings.map(\.mapping),
                  desiredMasquerade: document.masquerade, currentMasquerade: snapshot.masquerade)
    }

    static func compare<T: Hashable & Comparable>(_ desired: [T], _ current: [T]) -> (missing: [T], extra: [T]) {
        let want = Set(desired), have = Set(current)
        return (desired.filter { !have.contains($0) }.sorted(), current.filter { !want.contains($0) }.sorted())
    }

    /// One line per difference, for diff and check: `(+ or -, text)`, mappings first.
    public var lines: [(missing: Bool, text: String)] {
        missing.map { (true, "\($0)") } + extra.map { (false, "\($0)") }
            + missingMasquerade.map { (true, "masquerade \($0)") } + extraMasquerade.map { (false, "masquerade \($0)") }
    }

    /// "2 missing, 1 extra", for one-line reports.
    public var summary: String {
        let m = missing.count + missingMasquerade.count, e = extra.count + extraMasquerade.count
        return [(m, "missing"), (e, "extra")].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }
}
