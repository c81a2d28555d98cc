import PortForwarding

/// The `PublishError` an operation throws, nil when it returns (or throws anything else,
/// which Publisher's typed throws rule out): tests ask for its case, e.g. `?.mappingError`.
func refusal<T>(_ body: () throws -> T) -> PublishError? {
    do { _ = try body(); return nil } catch { return error as? PublishError }
}
