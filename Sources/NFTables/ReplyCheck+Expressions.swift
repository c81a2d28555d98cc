import CNetfilter

/// The nested parts of reply messages that libnftnl reads per kind: expressions (in rules,
/// sets, elements and dynset), the data registers inside them and in elements, and verdicts.
extension ReplyCheck {
    /// A list of expressions (NFTA_LIST_ELEM nests).
    static func isExpressionList(_ nest: UnsafePointer<nlattr>, depth: Int) -> Bool {
        all(in: nest) { isExpression($0, depth: depth) }
    }

    /// One expression: a name, and in its data the strings and data registers its kind holds
    /// (and inside a dynset its own expressions). Dynset nests no deeper than one level in the
    /// kernel; 4 bounds the recursion on any input.
    static func isExpression(_ nest: UnsafePointer<nlattr>, depth: Int) -> Bool {
        guard depth < 4 else { return false }
        // libnftnl reads the last of each, as these do.
        var name: UnsafePointer<nlattr>?
        var data: UnsafePointer<nlattr>?
        forEachNested(nest) { attr in
            switch Int(mnl_attr_get_type(attr)) {
            case Int(NFTA_EXPR_NAME.rawValue): name = attr
            case Int(NFTA_EXPR_DATA.rawValue): data = attr
            default: break
            }
        }
        guard let name, isString(name) else { return false }
        guard let data else { return true }
        let kind = String(cString: mnl_attr_get_str(name))
        let shape = ExpressionShape(kind)
        return all(in: data) { attr in
            let type = mnl_attr_get_type(attr)
            if shape.strings.contains(type) { return isString(attr) }
            if shape.registers.contains(type) { return isDataRegister(attr) }
            guard kind == "dynset" else { return true }
            switch Int(type) {
            case Int(NFTA_DYNSET_EXPR.rawValue): return isExpression(attr, depth: depth + 1)
            case Int(NFTA_DYNSET_EXPRESSIONS.rawValue): return isExpressionList(attr, depth: depth + 1)
            default: return true
            }
        }
    }

    /// A data register (nft_data_attributes), as nftnl_parse_data reads it: a value, whose
    /// length libnftnl checks itself, or a verdict.
    static func isDataRegister(_ nest: UnsafePointer<nlattr>) -> Bool {
        all(in: nest) { attr in
            mnl_attr_get_type(attr) != UInt16(NFTA_DATA_VERDICT.rawValue) || isVerdict(attr)
        }
    }

    /// nftnl_parse_verdict's attribute table is not initialised: a verdict without a code, or a
    /// jump or goto without a chain, reads a pointer from whatever the stack held (the fuzzer
    /// found a jump without its chain: strdup of a stray pointer). Codes are 4 bytes.
    private static func isVerdict(_ verdict: UnsafePointer<nlattr>) -> Bool {
        var code: UInt32?
        var codesFit = true
        var chain: Bool?
        forEachNested(verdict) { attr in
            switch Int(mnl_attr_get_type(attr)) {
            case Int(NFTA_VERDICT_CODE.rawValue):
                if mnl_attr_get_payload_len(attr) == 4 { code = UInt32(bigEndian: mnl_attr_get_u32(attr)) } else { codesFit = false }
            case Int(NFTA_VERDICT_CHAIN.rawValue): chain = (chain ?? true) && isString(attr)
            default: break
            }
        }
        guard let code, codesFit else { return false }
        let jumps = [NFT_JUMP.rawValue, NFT_GOTO.rawValue].map { UInt32(bitPattern: Int32($0)) }
        return chain ?? !jumps.contains(code)
    }
}

/// The attributes of an expression's data that libnftnl 1.2.4 reads as strings (up to their
/// NUL) or as data registers (nftnl_parse_data), by the expression's name.
struct ExpressionShape {
    var strings: [UInt16] = []
    var registers: [UInt16] = []

    init(_ name: String) {
        func types<T: RawRepresentable>(_ values: T...) -> [UInt16] where T.RawValue: BinaryInteger {
            values.map { UInt16($0.rawValue) }
        }
        switch name {
        case "cmp": registers = types(NFTA_CMP_DATA)
        case "immediate": registers = types(NFTA_IMMEDIATE_DATA)
        case "range": registers = types(NFTA_RANGE_FROM_DATA, NFTA_RANGE_TO_DATA)
        case "bitwise": registers = types(NFTA_BITWISE_MASK, NFTA_BITWISE_XOR, NFTA_BITWISE_DATA)
        case "lookup": strings = types(NFTA_LOOKUP_SET)
        case "dynset": strings = types(NFTA_DYNSET_SET_NAME)
        case "objref": strings = types(NFTA_OBJREF_IMM_NAME, NFTA_OBJREF_SET_NAME)
        case "log": strings = types(NFTA_LOG_PREFIX)
        case "flow_offload": strings = types(NFTA_FLOW_TABLE_NAME)
        // NFTA_MATCH_NAME and NFTA_TARGET_NAME (nf_tables_compat.h, which the shim leaves out).
        case "match", "target": strings = [1]
        default: break
        }
    }
}
