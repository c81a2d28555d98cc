import CNetfilter

/// Checks a reply message for what libnftnl's parsers (1.2.4, Debian 12) take on trust before
/// they read it: an expression without a name makes nftnl_expr_parse hand a null string to
/// strcmp (the netlink fuzzer found it: a segfault), and names are read up to their NUL
/// whatever the attribute's length says. The kernel never sends such messages; anything that
/// fails these checks is refused as malformed instead of crashing the reader.
///
/// Covered: the names and tables of chains, sets, rules and element lists, and every nested
/// expression (in rules, sets, elements, and inside dynset). Not covered: the strings inside
/// an expression's own data (a lookup's set name, an immediate's chain), which libnftnl reads
/// per expression type.
enum ReplyCheck {
    static func chain(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        topLevel(nlh) { type, attr in
            switch Int(type) {
            case Int(NFTA_CHAIN_TABLE.rawValue), Int(NFTA_CHAIN_NAME.rawValue), Int(NFTA_CHAIN_TYPE.rawValue):
                return isString(attr)
            default: return true
            }
        }
    }

    static func set(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        topLevel(nlh) { type, attr in
            switch Int(type) {
            case Int(NFTA_SET_TABLE.rawValue), Int(NFTA_SET_NAME.rawValue): return isString(attr)
            case Int(NFTA_SET_EXPR.rawValue): return isExpression(attr, depth: 0)
            case Int(NFTA_SET_EXPRESSIONS.rawValue): return isExpressionList(attr, depth: 0)
            default: return true
            }
        }
    }

    static func rule(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        topLevel(nlh) { type, attr in
            switch Int(type) {
            case Int(NFTA_RULE_TABLE.rawValue), Int(NFTA_RULE_CHAIN.rawValue): return isString(attr)
            case Int(NFTA_RULE_EXPRESSIONS.rawValue): return isExpressionList(attr, depth: 0)
            default: return true
            }
        }
    }

    static func elements(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        topLevel(nlh) { type, attr in
            switch Int(type) {
            case Int(NFTA_SET_ELEM_LIST_TABLE.rawValue), Int(NFTA_SET_ELEM_LIST_SET.rawValue): return isString(attr)
            case Int(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue):
                return all(in: attr) { element in
                    all(in: element) { field in
                        switch Int(mnl_attr_get_type(field)) {
                        case Int(NFTA_SET_ELEM_EXPR.rawValue): return isExpression(field, depth: 0)
                        case Int(NFTA_SET_ELEM_EXPRESSIONS.rawValue): return isExpressionList(field, depth: 0)
                        case Int(NFTA_SET_ELEM_OBJREF.rawValue): return isString(field)
                        default: return true
                        }
                    }
                }
            default: return true
            }
        }
    }

    // MARK: - Attributes

    /// Every attribute after the message's nfgenmsg passes `check`.
    private static func topLevel(_ nlh: UnsafePointer<nlmsghdr>, _ check: (UInt16, UnsafePointer<nlattr>) -> Bool) -> Bool {
        guard ReplyParsers.hasFamilyHeader(nlh) else { return false }
        var ok = true
        forEachAttribute(after: MemoryLayout<nfgenmsg>.size, in: nlh) { attr in
            if ok && !check(mnl_attr_get_type(attr), attr) { ok = false }
        }
        return ok
    }

    private static func all(in nest: UnsafePointer<nlattr>, _ check: (UnsafePointer<nlattr>) -> Bool) -> Bool {
        var ok = true
        forEachNested(nest) { attr in if ok && !check(attr) { ok = false } }
        return ok
    }

    /// A string attribute: a NUL within its payload.
    private static func isString(_ attr: UnsafePointer<nlattr>) -> Bool {
        let payload = UnsafeRawBufferPointer(start: mnl_attr_get_payload(attr), count: Int(mnl_attr_get_payload_len(attr)))
        return payload.contains(0)
    }

    /// A list of expressions (NFTA_LIST_ELEM nests).
    private static func isExpressionList(_ nest: UnsafePointer<nlattr>, depth: Int) -> Bool {
        all(in: nest) { isExpression($0, depth: depth) }
    }

    /// One expression: a name, and inside a dynset its own expressions. Dynset nests no deeper
    /// than one level in the kernel; 4 bounds the recursion on any input.
    private static func isExpression(_ nest: UnsafePointer<nlattr>, depth: Int) -> Bool {
        guard depth < 4 else { return false }
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
        guard let data, String(cString: mnl_attr_get_str(name)) == "dynset" else { return true }
        return all(in: data) { attr in
            switch Int(mnl_attr_get_type(attr)) {
            case Int(NFTA_DYNSET_EXPR.rawValue): return isExpression(attr, depth: depth + 1)
            case Int(NFTA_DYNSET_EXPRESSIONS.rawValue): return isExpressionList(attr, depth: depth + 1)
            case Int(NFTA_DYNSET_SET_NAME.rawValue): return isString(attr)
            default: return true
            }
        }
    }
}
