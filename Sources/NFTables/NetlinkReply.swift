import CNetfilter

/// Kernel replies decoded from bytes, without a socket: the datagram framing and the message
/// readers `NFTables` and `Conntrack` use on what the kernel sends, reachable by a fuzzer or a
/// test that feeds bytes no kernel wrote. The C calls stay in this module.
@_spi(Fuzzing)
public enum NetlinkReply {
    /// What one datagram held, message by message, as far as it could be framed.
    public struct Decoded: Sendable, Equatable {
        public var chains: [ChainRecord] = []
        public var sets: [SetRecord] = []
        public var rules: [RuleRecord] = []
        public var elements: [ElementRecord] = []
        public var generations: [UInt32] = []
        /// NLMSG_ERROR replies: errno (0 for an ACK) and extended-ACK text.
        public var errors: [NetlinkError.Rejection] = []
        public var conntrack: [ConntrackFlow] = []
        /// The rules' fingerprint (`RuleFingerprint`), of every NEWRULE message, in order.
        public var ruleFingerprint: [UInt8] = []
        /// Messages a reader refused (`NetlinkError.malformedReply`, or `ReplyCheck`).
        public var refused = 0
        /// Why framing stopped early, if it did.
        public var framingError: String?
    }

    /// Frames `bytes` as one datagram and reads each message with the reader for its type:
    /// nf_tables chains, sets, rules (and their fingerprint), elements and generations,
    /// ctnetlink entries, errors.
    /// Without `libnftnl`, nf_tables messages only go through `ReplyCheck` (which runs before
    /// libnftnl sees a message): libnftnl ends the process when an attribute has the wrong
    /// size for its type, its policy for a kernel that broke the ABI, so a fuzzer that wants
    /// to go on reads those in a child process (see nftfwd-fuzz's `nftnl` target).
    public static func decode(_ bytes: [UInt8], libnftnl: Bool = true) -> Decoded {
        var out = Decoded()
        // An aligned copy sized as the datagram plus the NUL the socket puts after one: an
        // address sanitizer then catches a reader that runs past it.
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: 16)
        defer { copy.deallocate() }
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: copy[..<bytes.count]).copyMemory(from: $0) }
        copy[bytes.count] = 0
        do {
            _ = try NetlinkMessages.forEach(in: UnsafeRawBufferPointer(rebasing: copy[..<bytes.count])) { nlh in
                read(nlh, libnftnl: libnftnl, into: &out)
                return .more
            }
        } catch {
            out.framingError = error.description
        }
        return out
    }

    private static func read(_ nlh: UnsafePointer<nlmsghdr>, libnftnl: Bool, into out: inout Decoded) {
        let type = nlh.pointee.nlmsg_type
        if type == UInt16(NLMSG_ERROR) {
            let err = ReplyParsers.error(nlh)
            out.errors.append(.init(operation: "reply \(nlh.pointee.nlmsg_seq)", errno: Errno(err.errno), detail: err.detail))
            return
        }
        if type < UInt16(NLMSG_MIN_TYPE) { return }   // NOOP, DONE, OVERRUN: no payload to read
        // Fingerprinted as `NFTables.rules(of:unlessFingerprint:)` does, before any check:
        // the fingerprint reads raw attributes of messages no parser has vouched for.
        if UInt32(type) >> 8 == UInt32(NFNL_SUBSYS_NFTABLES), UInt32(type & 0xff) == NFT_MSG_NEWRULE.rawValue {
            RuleFingerprint.append(nlh, to: &out.ruleFingerprint)
        }
        do throws(NetlinkError) {
            switch UInt32(type) >> 8 {
            case UInt32(NFNL_SUBSYS_CTNETLINK):
                if let entry = Conntrack.parse(nlh) { out.conntrack.append(entry.flow) }
            case UInt32(NFNL_SUBSYS_NFTABLES) where !libnftnl:
                let passes: Bool
                switch UInt32(type & 0xff) {
                case NFT_MSG_NEWCHAIN.rawValue: passes = ReplyCheck.chain(nlh)
                case NFT_MSG_NEWSET.rawValue: passes = ReplyCheck.set(nlh)
                case NFT_MSG_NEWRULE.rawValue: passes = ReplyCheck.rule(nlh)
                case NFT_MSG_NEWSETELEM.rawValue: passes = ReplyCheck.elements(nlh)
                default: passes = true
                }
                if !passes { out.refused += 1 }
            case UInt32(NFNL_SUBSYS_NFTABLES):
                switch UInt32(type & 0xff) {
                case NFT_MSG_NEWCHAIN.rawValue: out.chains.append(try ReplyParsers.chain(nlh))
                case NFT_MSG_NEWSET.rawValue: out.sets.append(try ReplyParsers.set(nlh).record)
                case NFT_MSG_NEWRULE.rawValue: out.rules.append(try ReplyParsers.rule(nlh).record)
                case NFT_MSG_NEWSETELEM.rawValue: out.elements += try NFTables.parseElements(nlh)
                case NFT_MSG_NEWGEN.rawValue: if let gen = ReplyParsers.generation(nlh) { out.generations.append(gen) }
                default: break
                }
            default: break
            }
        } catch {
            out.refused += 1
        }
    }
}
