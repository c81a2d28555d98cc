import CNetfilter

/// A table's rules as bytes, equal exactly when what a rule comparison looks at is equal:
/// per rule, in the dump's order, its table and chain attributes and each expression's raw
/// attributes as the kernel lists them, except a counter's packets and bytes (they move with
/// traffic; only the expression's name is kept). Handles, positions and userdata are left out:
/// they are not part of what nftfwd writes. Each part is framed by its length, so no two
/// rule lists give the same bytes.
///
/// Why: checking that a table's rules are nftfwd's (`TableReader.verifyStructure`) means
/// parsing every rule through libnftnl and building today's rules to compare with, about
/// half of an `add`'s instructions. A fingerprint a full check accepted before (kept by the
/// caller, `VerifiedRules`) lets the next check stop at the raw bytes.
enum RuleFingerprint {
    /// Appends the fingerprint of one NEWRULE message to `out`; messages without a family
    /// header add nothing (the parser refuses them anyway). Written in place, each frame's
    /// length filled in when it is done: built from small arrays, this was a fifth of an add.
    static func append(_ nlh: UnsafePointer<nlmsghdr>, to out: inout [UInt8]) {
        guard ReplyParsers.hasFamilyHeader(nlh) else { return }
        let head = open(&out)
        forEachAttribute(after: MemoryLayout<nfgenmsg>.size, in: nlh) { attr in
            let type = Int(mnl_attr_get_type(attr))
            if type == Int(NFTA_RULE_TABLE.rawValue) || type == Int(NFTA_RULE_CHAIN.rawValue) { raw(attr, into: &out) }
        }
        close(head, in: &out)
        let expressions = open(&out)
        forEachAttribute(after: MemoryLayout<nfgenmsg>.size, in: nlh) { attr in
            guard Int(mnl_attr_get_type(attr)) == Int(NFTA_RULE_EXPRESSIONS.rawValue) else { return }
            forEachNested(attr) { element in
                // Tagged: 0 a counter's name, 1 a whole expression.
                if let name = counterName(element) {
                    out.append(0)
                    let frame = open(&out)
                    raw(name, into: &out)
                    close(frame, in: &out)
                } else {
                    out.append(1)
                    let frame = open(&out)
                    raw(element, into: &out)
                    close(frame, in: &out)
                }
            }
        }
        close(expressions, in: &out)
    }

    /// The attribute's bytes, header included (nla_len of them, without the alignment padding).
    private static func raw(_ attr: UnsafePointer<nlattr>, into out: inout [UInt8]) {
        out.append(contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(attr), count: Int(attr.pointee.nla_len)))
    }

    /// The name attribute of a counter expression (to be kept without its values), nil for any
    /// other expression.
    private static func counterName(_ element: UnsafePointer<nlattr>) -> UnsafePointer<nlattr>? {
        var name: UnsafePointer<nlattr>?
        forEachNested(element) { field in
            guard mnl_attr_get_type(field) == UInt16(NFTA_EXPR_NAME.rawValue) else { return }
            let payload = UnsafeRawBufferPointer(start: mnl_attr_get_payload(field), count: Int(mnl_attr_get_payload_len(field)))
            if payload.elementsEqual(counter) { name = field }
        }
        return name
    }

    private static let counter: [UInt8] = Array("counter".utf8) + [0]

    /// Starts a frame: room for its length (4 bytes, little-endian), filled in by `close`.
    private static func open(_ out: inout [UInt8]) -> Int {
        out.append(contentsOf: [0, 0, 0, 0] as [UInt8])
        return out.count
    }

    private static func close(_ start: Int, in out: inout [UInt8]) {
        let n = UInt32(out.count - start)
        for i in 0..<4 { out[start - 4 + i] = UInt8(truncatingIfNeeded: n >> UInt32(8 * i)) }
    }
}
