/// An inclusive range of ports, 1-65535, first <= last.
public struct PortRange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let first: UInt16
    public let last: UInt16

    public init(_ first: UInt16, _ last: UInt16? = nil) {
        self.first = first
        self.last = last ?? first
    }

    public var count: Int { Int(last) - Int(first) + 1 }
    public var isSingle: Bool { first == last }
    public var ports: ClosedRange<UInt16> { first...last }

    public func overlaps(_ other: PortRange) -> Bool { first <= other.last && other.first <= last }

    /// Parses `8080` or `8000-8099`; `what` names the field in error messages.
    /// Decimal digits only: no sign, no leading zero (`08080` could be meant as octal, and
    /// reads back as another text), no spaces, no empty side of a range.
    /// Works on UTF-8 bytes: `apply` parses tens of thousands of these.
    public static func parse(_ text: Substring, what: String) throws(MappingError) -> PortRange {
        let bytes = text.utf8
        let dash = bytes.firstIndex(of: UInt8(ascii: "-"))
        func port(_ s: Substring.UTF8View.SubSequence) throws(MappingError) -> UInt16 {
            guard !s.isEmpty else {
                throw .invalid(dash == nil ? "\(what): a port number is missing: use 1-65535"
                               : "\(what): range '\(Untrusted.escape(String(text)))' lacks a port on one side: write FIRST-LAST, e.g. 8000-8099")
            }
            var value = 0
            for b in s {
                guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), s.count <= 5 else {
                    throw .invalid("\(what): '\(Untrusted.escape(String(Substring(s))))' is not a port number: use 1-65535 in decimal digits")
                }
                value = value * 10 + Int(b - UInt8(ascii: "0"))
            }
            guard (1...65535).contains(value) else {
                throw .invalid("\(what): port \(value) is out of range: use 1-65535")
            }
            if s.first == UInt8(ascii: "0") && s.count > 1 {
                throw .invalid("\(what): '\(Untrusted.escape(String(Substring(s))))' has a leading zero: write \(value)")
            }
            return UInt16(value)
        }
        guard let dash else { return PortRange(try port(bytes[...])) }
        let first = try port(bytes[..<dash])
        let last = try port(bytes[bytes.index(after: dash)...])
        guard first <= last else {
            throw .invalid("\(what): range \(first)-\(last) is reversed: write \(last)-\(first)")
        }
        return PortRange(first, last)
    }

    /// `parse` for the text it accepts without a word to say, on bytes: `8080` or `8000-8099`,
    /// no leading zero, 1-65535, first <= last. Nil for anything else, which `parse` then
    /// reads and words (a large file's endpoints come through here).
    static func simple<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> PortRange? {
        var first: Int? = nil, value = 0, digits = 0
        for b in bytes {
            if b == UInt8(ascii: "-") {
                guard first == nil, digits > 0 else { return nil }
                first = value; value = 0; digits = 0
                continue
            }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9"), digits < 5, !(digits == 1 && value == 0) else { return nil }
            value = value * 10 + Int(b &- UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0, (1...65535).contains(value) else { return nil }
        guard let first else { return PortRange(UInt16(value)) }
        guard (1...65535).contains(first), first <= value else { return nil }
        return PortRange(UInt16(first), UInt16(value))
    }

    public var description: String { isSingle ? String(first) : String(first) + "-" + String(last) }

    public static func < (a: PortRange, b: PortRange) -> Bool { (a.first, a.last) < (b.first, b.last) }
}
