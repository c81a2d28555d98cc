/// What one message of a `Batch` does, as a value: a batch is a list of these. `BatchEncoder`
/// turns them into netlink messages when the batch is sent; the in-memory fake tests use
/// applies them as they are, and a reader inspects them without decoding netlink.
public enum BatchOperation: Sendable, Equatable {
    /// NEWTABLE; `exclusive` (NLM_F_EXCL) only in a trial's planned refusal.
    case addTable(exclusive: Bool)
    case deleteTable
    case addChain(ChainSpec)
    case addSet(SetSpec)
    /// NEWSETELEM with NLM_F_EXCL: an existing key is refused (EEXIST).
    case addElement(Element, set: String)
    /// DELSETELEM: only the element's key (and key end, interval flag) counts.
    case deleteElement(Element, set: String)
    /// NEWRULE appended at the end of its chain.
    case addRule(RuleSpec)
    case deleteRule(chain: String, handle: UInt64)
}
