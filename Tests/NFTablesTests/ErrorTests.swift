import Testing
#if canImport(Glibc)
import Glibc
#endif
import CNetfilter
@testable import NFTables

@Suite("Decoding netlink errors")
struct ErrorTests {
    @Test("errno values print as words and symbol")
    func errnoText() {
        #expect(Errno(EEXIST).description == "File exists (EEXIST)")
        #expect(Errno(ENOENT).description == "No such file or directory (ENOENT)")
        #expect(Errno(EPERM).name == "EPERM")
        #expect(Errno(9999).name == "errno 9999")
    }

    @Test("a rejection names the operation and the errno")
    func rejection() {
        let error = NetlinkError.rejected([.init(operation: "add element 8080/tcp", errno: .exists, detail: nil)])
        #expect(error.description == "kernel rejected 'add element 8080/tcp': File exists (EEXIST)")
        #expect(error.errno == .exists)
        let many = NetlinkError.rejected((1...7).map { .init(operation: "op \($0)", errno: .noEntry, detail: nil) })
        #expect(many.description.hasSuffix("... and 2 more"))
    }

    @Test("an NLMSG_ERROR message decodes to errno, sequence and extended-ACK text")
    func decodeErrorMessage() {
        // nlmsghdr(len, type=NLMSG_ERROR, flags=CAPPED|ACK_TLVS, seq, pid) + nlmsgerr(error=-EEXIST, orig hdr)
        // + NLMSGERR_ATTR_MSG "boom" + NLMSGERR_ATTR_OFFS 40
        var bytes: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        let total: UInt32 = 16 + 4 + 16 + 12 + 8
        u32(total); u16(2); u16(0x300); u32(77); u32(0)
        u32(UInt32(bitPattern: -EEXIST))
        u32(40); u16(0x0a0c); u16(0x0d); u32(77); u32(0)                  // the request's header, capped
        u16(9); u16(1); bytes += Array("boom".utf8) + [0, 0, 0, 0]       // NLMSGERR_ATTR_MSG
        u16(8); u16(2); u32(40)                                          // NLMSGERR_ATTR_OFFS
        #expect(bytes.count == Int(total))
        let decoded = bytes.withUnsafeBytes { raw in
            var err = nftfwd_nlerr()
            nftfwd_parse_error(raw.baseAddress!.assumingMemoryBound(to: nlmsghdr.self), &err)
            let msg = withUnsafeBytes(of: err.msg) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return (err.error, err.seq, err.attr_offset, msg)
        }
        #expect(decoded.0 == EEXIST)
        #expect(decoded.1 == 77)
        #expect(decoded.2 == 40)
        #expect(decoded.3 == "boom")
    }

    @Test("element comments use nft's userdata layout and read back")
    func userdata() {
        let e = Element(key: [1], value: [2], comment: "hi")
        #expect(e.userdata == [0, 3, UInt8(ascii: "h"), UInt8(ascii: "i"), 0])
        #expect(Element.comment(fromUserdata: e.userdata!) == "hi")
        #expect(Element.comment(fromUserdata: [1, 1, 0, 0, 2, 0x41, 0]) == "A")
        #expect(Element.comment(fromUserdata: [0, 9, 0x41]) == nil)
    }
}
