import CNetfilter

/// Checks a reply message for what libnftnl's parsers (1.2.4, Debian 12) take on trust before
/// they read it. The kernel never sends such messages; anything that fails these checks is
/// refused as malformed (`NetlinkError.malformedReply`) instead of crashing the reader. Each
/// rule names the libnftnl defect it stands in for, all found by the nftnl fuzzer or by reading
/// its parsers after a finding:
/// - an expression without a name: nftnl_expr_parse hands a null string to strcmp;
/// - strings (names, tables, a hook's devices, the set names and prefixes inside expressions,
///   a verdict's chain) are read up to their NUL whatever the attribute's length says;
/// - an element attribute of type 12 to 18 is stored past the parser's table, on its stack;
/// - a verdict without its code, or a jump or goto without its chain, is read from a table
///   libnftnl never initialised (data registers: element keys and data, and the data of
///   cmp, immediate, range and bitwise expressions, see `ReplyCheck+Expressions.swift`);
/// - a set's concatenation of more than 16 fields overflows its array of field lengths.
///
/// Where libnftnl keeps the last attribute of a type, every one is checked. Attributes are
/// walked as libmnl does (a truncated one ends the walk), so the checks see what libnftnl sees.
enum ReplyCheck {
    static func chain(_ nlh: UnsafePointer<nlmsghdr>) -> Bool {
        topLevel(nlh) { type, attr in
            switch Int(type) {
            case Int(NFTA_CHAIN_TABLE.rawValue), Int(NFTA_CHAIN_NAME.rawValue), Int(NFTA_CHAIN_TYPE.rawValue):
                return isString(attr)
            case Int(NFTA_CHAIN_HOOK.rawValue): return isHook(attr)
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
            case Int(NFTA_SET_DESC.rawValue): return isSetDescription(attr)
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
            case Int(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue): return all(in: attr, isElement)
            default: return true
            }
        }
    }

    // MARK: - Nests of messages

    /// libnftnl 1.2.4 sizes an element's attribute table for NFTA_SET_ELEM_MAX (11) but lets
    /// in every type up to NFTA_SET_MAX (18, both in the headers it was built with, so fixed
    /// here rather than taken from ours): a type in between is written past the table, over
    /// the parser's stack (the fuzzer's SIGSEGV: the caller returned into the datagram).
    static let elementTypesPastTable: ClosedRange<UInt16> = 12...18

    /// One element of a NEWSETELEM's list.
    private static func isElement(_ element: UnsafePointer<nlattr>) -> Bool {
        all(in: element) { field in
            let type = mnl_attr_get_type(field)
            if elementTypesPastTable.contains(type) { return false }
            switch Int(type) {
            case Int(NFTA_SET_ELEM_KEY.rawValue), Int(NFTA_SET_ELEM_KEY_END.rawValue), Int(NFTA_SET_ELEM_DATA.rawValue):
                return isDataRegister(field)
            case Int(NFTA_SET_ELEM_EXPR.rawValue): return isExpression(field, depth: 0)
            case Int(NFTA_SET_ELEM_EXPRESSIONS.rawValue): return isExpressionList(field, depth: 0)
            case Int(NFTA_SET_ELEM_OBJREF.rawValue): return isString(field)
            default: return true
            }
        }
    }

    /// A base chain's hook: its device names are strings.
    private static func isHook(_ hook: UnsafePointer<nlattr>) -> Bool {
        all(in: hook) { attr in
            switch Int(mnl_attr_get_type(attr)) {
            case Int(NFTA_HOOK_DEV.rawValue): return isString(attr)
            case Int(NFTA_HOOK_DEVS.rawValue):
                return all(in: attr) { device in
                    mnl_attr_get_type(device) != UInt16(NFTA_DEVICE_NAME.rawValue) || isString(device)
                }
            default: return true
            }
        }
    }

    /// libnftnl stores every NFTA_SET_FIELD_LEN of a concatenation, in any of its list
    /// entries, into an array of NFT_REG32_COUNT (16) lengths without counting.
    static let maxConcatenatedFields = 16

    private static func isSetDescription(_ description: UnsafePointer<nlattr>) -> Bool {
        var fields = 0
        forEachNested(description) { attr in
            guard mnl_attr_get_type(attr) == UInt16(NFTA_SET_DESC_CONCAT.rawValue) else { return }
            forEachNested(attr) { entry in
                guard mnl_attr_get_type(entry) == UInt16(NFTA_LIST_ELEM.rawValue) else { return }
                forEachNested(entry) { field in
                    if mnl_attr_get_type(field) == UInt16(NFTA_SET_FIELD_LEN.rawValue) { fields += 1 }
                }
            }
        }
        return fields <= maxConcatenatedFields
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

    /// Every attribute nested in `nest` passes `check`.
    static func all(in nest: UnsafePointer<nlattr>, _ check: (UnsafePointer<nlattr>) -> Bool) -> Bool {
        var ok = true
        forEachNested(nest) { attr in if ok && !check(attr) { ok = false } }
        return ok
    }

    /// A string attribute: a NUL within its payload.
    static func isString(_ attr: UnsafePointer<nlattr>) -> Bool {
        let payload = UnsafeRawBufferPointer(start: mnl_attr_get_payload(attr), count: Int(mnl_attr_get_payload_len(attr)))
        return payload.contains(0)
    }
}
