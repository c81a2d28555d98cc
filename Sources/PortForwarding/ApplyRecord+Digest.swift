import NetworkAddress

extension ApplyRecord {
    /// The digest of a file's mappings, in the file's order: every field of each mapping as
    /// text, each prefixed by its length, so no two lists encode alike. (Order-free would mean
    /// sorting 100,000 encodings, a third of a no-change apply; `ls --json` prints in one
    /// order, and a file reordered by hand only costs a full read.)
    ///
    /// The fields are written as bytes into one buffer hashed every 32 KiB, without a String
    /// per field: the same bytes as formatting each field (`"\(address)"`, the ports'
    /// description, ...), so records written before stay valid, at a tenth of the cost.
    static func digest(of mappings: [Mapping]) -> String {
        var writer = DigestWriter()
        writer.raw { w in
            w.text("mappings ")
            w.decimal(mappings.count)
            w.byte(UInt8(ascii: "\n"))
        }
        for m in mappings {
            writer.field { $0.text(m.proto.rawValue) }
            writer.field { $0.text(m.hostFamily.rawValue) }
            writer.field { $0.address(m.host.address) }
            writer.field { $0.ports(m.host.ports) }
            writer.field { $0.address(m.target.address) }
            writer.field { $0.ports(m.target.ports) }
            writer.field { w in
                for (i, subnet) in m.allow.enumerated() {
                    if i > 0 { w.byte(UInt8(ascii: ",")) }
                    w.address(subnet.network)
                    w.byte(UInt8(ascii: "/"))
                    w.decimal(subnet.prefixLength)
                }
            }
            writer.field { $0.text(m.proxyProtocol?.rawValue ?? "") }
            writer.field { $0.text(m.comment) }
        }
        return writer.finish()
    }
}

/// Bytes on their way into a SHA-256: each field is written to a reused scratch buffer (its
/// length comes before it), then appended with that length to a buffer hashed whenever it
/// passes 32 KiB.
struct DigestWriter {
    private var sha = SHA256()
    private var buffer: [UInt8] = []
    private var scratch: [UInt8] = []
    private static let flushAt = 32 * 1024

    init() {
        buffer.reserveCapacity(DigestWriter.flushAt + 512)
        scratch.reserveCapacity(256)
    }

    mutating func byte(_ b: UInt8) { scratch.append(b) }

    mutating func text(_ s: String) { scratch.append(contentsOf: s.utf8) }

    /// `n` in decimal, as `String(n)` writes it.
    mutating func decimal(_ n: Int) { TextBytes.decimal(n, into: &scratch) }

    /// `"\(address)"`, or `*` for none. IPv4 is written here (what inet_ntop writes: four
    /// decimal parts); IPv6, rare in a large file, through the address's own text (RFC 5952).
    mutating func address(_ address: IPAddress?) {
        guard let address else { byte(UInt8(ascii: "*")); return }
        switch address.storage {
        case .v4(let a): TextBytes.ipv4(a, into: &scratch)
        case .v6: text(address.description)
        }
    }

    /// What `PortRange.description` writes: `8080` or `8000-8099`.
    mutating func ports(_ ports: PortRange) { TextBytes.ports(ports, into: &scratch) }

    /// Text outside a field (the header), as it is.
    mutating func raw(_ body: (inout DigestWriter) -> Void) {
        scratch.removeAll(keepingCapacity: true)
        body(&self)
        buffer.append(contentsOf: scratch)
    }

    /// `LENGTH:TEXT`, with what `body` writes as the text.
    @inline(__always)
    mutating func field(_ body: (inout DigestWriter) -> Void) {
        scratch.removeAll(keepingCapacity: true)
        body(&self)
        TextBytes.decimal(scratch.count, into: &buffer)
        buffer.append(UInt8(ascii: ":"))
        buffer.append(contentsOf: scratch)
        if buffer.count >= DigestWriter.flushAt { flush() }
    }

    private mutating func flush() {
        sha.update(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func finish() -> String {
        flush()
        return sha.finish()
    }
}
