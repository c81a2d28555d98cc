/// Numbers, IPv4 addresses and port ranges written as UTF-8 bytes into a buffer, exactly as
/// their String forms read (`String(n)`, `IPAddress.description`, `PortRange.description`),
/// for the texts written per mapping of a large file: the apply digest (`DigestWriter`) and
/// labels and element comments (`LabelText`), where a String per field was most of the cost.
enum TextBytes {
    /// `n` in decimal, most significant digit first, so nothing is reversed afterwards:
    /// reversing a slice of the buffer in place was 40% of a 10,000-mapping digest (callgrind).
    static func decimal(_ n: Int, into out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var v = n.magnitude
        var unit: UInt = 1
        while v / unit >= 10 { unit &*= 10 }
        while unit > 0 {
            out.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v / unit))
            v %= unit
            unit /= 10
        }
    }

    /// An IPv4 address (its host-order word) in four decimal parts, as inet_ntop writes it.
    static func ipv4(_ a: UInt32, into out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) {
            if shift != 24 { out.append(UInt8(ascii: ".")) }
            decimal(Int((a >> UInt32(shift)) & 0xff), into: &out)
        }
    }

    /// `8080` or `8000-8099`.
    static func ports(_ ports: PortRange, into out: inout [UInt8]) {
        decimal(Int(ports.first), into: &out)
        guard !ports.isSingle else { return }
        out.append(UInt8(ascii: "-"))
        decimal(Int(ports.last), into: &out)
    }
}
