/// How the kernel table differs from a desired state (a saved file): exactly what applying the
/// desired state would add and remove. `nftfwd diff` and `check` print it; the relay's
/// `--restore-from` repairs it.
public struct StateDifference: Sendable, Equatable {
    /// In the desired state, not in the kernel: applying adds them.
    public var missing: [Mapping]
    /// In the kernel, not in the desired state: applying removes them.
    public var extra: [Mapping]

    public var isEmpty: Bool { missing.isEmpty && extra.isEmpty }

    /// Compares as `Publisher.apply` does: a mapping counts as present only if it is there
    /// exactly (a comment-only change is one missing and one extra). No table is the same as
    /// an empty one.
    public init(desired: [Mapping], current: [Mapping]) {
        let want = Set(desired), have = Set(current)
        missing = desired.filter { !have.contains($0) }.sorted()
        extra = current.filter { !want.contains($0) }.sorted()
    }

    public init(desired: [Mapping], snapshot: TableSnapshot) {
        self.init(desired: desired, current: snapshot.mappings.map(\.mapping))
    }

    /// "2 missing, 1 extra", for one-line reports.
    public var summary: String {
        [(missing.count, "missing"), (extra.count, "extra")].filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
            .joined(separator: ", ")
    }
}
