/// Which container published a mapping: its comment (stored with every element, shown by
/// `nftfwd ls`), derived from CNI_CONTAINERID and CNI_IFNAME alone, so DEL finds the
/// container's mappings without the prevResult or the netns the spec lets it lack.
///
/// `cni:ID:IFNAME` when it is short (at most 40 bytes); runtimes' ids are 64 hex digits,
/// longer than a comment may be (64 bytes, beside the mapping itself in nft's 127), so those
/// become `cni:ID12~HASH:IFNAME`: the id's first 12 characters, as `docker ps` and `podman ps`
/// show them, then 8 hex digits of a hash of the whole id and ifname. A CNI id has no `~`, so
/// the two forms never meet.
enum Owner {
    static func comment(containerID: String, ifname: String) -> String {
        let plain = "cni:\(containerID):\(ifname)"
        if plain.utf8.count <= 40 { return plain }
        let hex = String(fnv1a("\(containerID)/\(ifname)") & 0xffff_ffff, radix: 16)
        return "cni:\(containerID.prefix(12))~\(String(repeating: "0", count: 8 - hex.count) + hex):\(ifname)"
    }

    /// The spec's CNI_CONTAINERID (a letter or digit, then letters, digits, '_', '.', '-'), and
    /// an interface name as Linux takes one (1-15 bytes, no '/', ':' or white space), without
    /// the characters a comment may not hold.
    static func validate(containerID: String, ifname: String) throws(CNIError) {
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        let id = Array(containerID.utf8)
        guard let first = id.first, alnum(first), id.allSatisfy({ alnum($0) || $0 == 95 || $0 == 46 || $0 == 45 }) else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid CNI_CONTAINERID \"\(containerID)\"",
                           details: "it must start with a letter or digit and hold only letters, digits, '_', '.' and '-'")
        }
        let name = Array(ifname.utf8)
        guard (1...15).contains(name.count), name.allSatisfy({ $0 > 32 && $0 < 127 && !"/:\"#".utf8.contains($0) }) else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid CNI_IFNAME \"\(ifname)\"",
                           details: "an interface name is 1-15 printable characters without '/', ':', '\"', '#' or spaces")
        }
    }

    /// FNV-1a, 64 bits: stable across runs and builds (Swift's Hasher is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}
