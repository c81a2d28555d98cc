import CNetfilter
#if canImport(Glibc)
import Glibc
#endif

/// The GETSETELEM requests of a pipelined lookup, as one datagram.
///
/// Why not libnftnl for each: the relay's scan of a large map looks up to 196,608 keys, and
/// building each request through libnftnl (a set and an element object, two string copies,
/// a Swift array per key) was about half of the scan's CPU time (perf: malloc and free
/// alone 10%). The requests of one chunk differ only in their sequence number and key, so
/// libnftnl builds the first and the others are its copy with those two fields written in.
/// The key is the request's last attribute (NFTA_SET_ELEM_KEY > NFTA_DATA_VALUE); that is
/// checked on the built message, and keys of another length than the first, or a message
/// not laid out so, are built by libnftnl one by one.
enum LookupRequests {
    static func datagram(_ keys: [[UInt8]], table: TableSpec, map: String, firstSeq: UInt32) -> [UInt8] {
        let template = build(keys[0], table: table, map: map, seq: firstSeq)
        let length = keys[0].count
        let keyOffset = template.count - length
        let usable = length % 4 == 0 && keyOffset > 16 && Array(template[keyOffset...]) == keys[0]
        var datagram: [UInt8] = []
        datagram.reserveCapacity(template.count * keys.count)
        for (index, key) in keys.enumerated() {
            let seq = firstSeq &+ UInt32(index)
            guard usable, key.count == length else {
                datagram += build(key, table: table, map: map, seq: seq)
                continue
            }
            let start = datagram.count
            datagram += template
            // nlmsghdr: nlmsg_len (4), nlmsg_type (2), nlmsg_flags (2), nlmsg_seq (4), host order.
            withUnsafeBytes(of: seq) { datagram.replaceSubrange(start + 8 ..< start + 12, with: $0) }
            datagram.replaceSubrange(start + keyOffset ..< start + keyOffset + length, with: key)
        }
        return datagram
    }

    /// One request through libnftnl, padded to its aligned length.
    private static func build(_ key: [UInt8], table: TableSpec, map: String, seq: UInt32) -> [UInt8] {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map)
        nftnl_set_elem_add(s, Batch.makeElement(Element(key: key, value: [])))
        return Batch.withScratch { buffer in
            let nlh = nftnl_nlmsg_build_hdr(buffer, UInt16(NFT_MSG_GETSETELEM.rawValue), UInt16(table.family.kernelValue),
                                            UInt16(NLM_F_REQUEST | NLM_F_ACK), seq)!
            nftnl_set_elems_nlmsg_build_payload(nlh, s)
            return Array(UnsafeRawBufferPointer(start: buffer, count: nftfwd_nlmsg_align(Int(nlh.pointee.nlmsg_len))))
        }
    }
}
