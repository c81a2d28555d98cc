import CNetfilter
#if canImport(Glibc)
import Glibc
#endif

extension NFTables {
    /// Every element of a map, unless `enough` (asked after each reply of the dump with the
    /// elements so far) says the map is too large to finish the dump: nil then.
    ///
    /// Why: the kernel resumes an element dump by walking the set from its start and skipping
    /// what it already sent, one reply of at most 32 KB (~250 elements of ours) at a time, so
    /// a whole dump costs N²/500 steps of the set walk: 2 s of kernel time for 120,000
    /// elements (perf: rhashtable_walk_next, 70% of the relay's start). A map that large is
    /// read otherwise (`TableReader+Scan`). The probe runs on a socket of its own, closed
    /// after it: that ends a dump cut short, where ours would still hold its replies.
    public func elements(of table: TableSpec, map: String, stoppingWhen enough: ([ElementRecord]) -> Bool) throws(NetlinkError) -> [ElementRecord]? {
        let probe = try NetlinkSocket()
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table.name)
        nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), map)
        let seq = probe.allocateSeq()
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 8192)
        defer { buffer.deallocate() }
        let nlh = nftnl_nlmsg_build_hdr(buffer, UInt16(NFT_MSG_GETSETELEM.rawValue), UInt16(table.family.kernelValue),
                                        UInt16(NLM_F_REQUEST | NLM_F_DUMP), seq)!
        nftnl_set_elems_nlmsg_build_payload(nlh, s)
        try probe.send(UnsafeRawBufferPointer(start: buffer, count: Int(nlh.pointee.nlmsg_len)))
        var out: [ElementRecord] = []
        var complete = false
        try probe.receive { nlh throws(NetlinkError) in
            guard nlh.pointee.nlmsg_seq == seq else { return .more }
            switch nlh.pointee.nlmsg_type {
            case UInt16(NLMSG_DONE):
                complete = true
                return .stop
            case UInt16(NLMSG_ERROR):
                var err = nftfwd_nlerr()
                nftfwd_parse_error(nlh, &err)
                if err.error != 0 { throw .request(what: "list elements of \(map)", errno: Errno(err.error)) }
                complete = true
                return .stop
            default:
                out += try NFTables.parseElements(nlh)
                return enough(out) ? .stop : .more
            }
        }
        return complete ? out : nil
    }
}
