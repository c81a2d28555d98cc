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
    public static func parse(_ text: Substring, what: String) throws(MappingError) -> PortRange {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func port(_ s: Substring) throws(MappingError) -> UInt16 {
            guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(s) else {
                throw .invalid("\(what): '\(s)' is not a port number: use 1-65535")
            }
            guard (1...65535).contains(v) else {
                throw .invalid("\(what): port \(v) is out of range: use 1-65535")
            }
            return UInt16(v)
        }
        let first = try port(parts[0])
        guard parts.count == 2 else { return PortRange(first) }
        let last = try port(parts[1])
        guard first <= last else {
            throw .invalid("\(what): range \(first)-\(last) is reversed: write \(last)-\(first)")
        }
        return PortRange(first, last)
    }

    public var description: String { isSingle ? "\(first)" : "\(first)-\(last)" }

    public static func < (a: PortRange, b: PortRange) -> Bool { (a.first, a.last) < (b.first, b.last) }
}
