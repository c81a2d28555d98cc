/// What one message of a `Batch` does, as a value: the same request the message's bytes
/// encode, kept beside them so something other than the kernel (the in-memory fake tests
/// use, a reader of a batch) can apply or inspect a batch without decoding netlink.
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
