#ifndef NFTFWD_CNETFILTER_SHIM_H
#define NFTFWD_CNETFILTER_SHIM_H

// One module over libmnl, libnftnl and the netfilter uapi headers (nf_tables, and ctnetlink for
// the conntrack cleanup), so the uapi types are imported once. Only what Swift cannot import directly is wrapped below.

#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <libnftnl/gen.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/udata.h>

// MNL_SOCKET_BUFFER_SIZE is a function-like expression Swift does not import.
static inline size_t nftfwd_mnl_socket_buffer_size(void) { return MNL_SOCKET_BUFFER_SIZE; }

// NLMSG_HDRLEN / NLMSG_ALIGN are macros with casts Swift does not import.
static inline size_t nftfwd_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }
static inline size_t nftfwd_nlmsg_align(size_t len) { return NLMSG_ALIGN(len); }

// Appends a BATCH_BEGIN that carries the ruleset generation the batch was computed against:
// the kernel then refuses the whole batch with ERESTART if anyone changed the ruleset since.
// libnftnl's nftnl_batch_begin() cannot add the attribute.
static inline struct nlmsghdr *nftfwd_batch_begin_genid(char *buf, uint32_t seq, uint32_t genid) {
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfg = (struct nfgenmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
    mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
    return nlh;
}

// Reads the fields of an NLMSG_ERROR message. Returns the errno (positive; 0 is an ACK) and,
// when the kernel added an extended ACK, the offset of the failing attribute and its message.
// Every length is checked against the message's own: a reply too short for its nlmsgerr
// reads as EBADMSG, and an extended ACK whose lengths do not fit is ignored.
struct nftfwd_nlerr {
    int error;
    uint32_t seq;
    uint32_t attr_offset;   // 0 if none
    char msg[128];
};
static inline void nftfwd_parse_error(const struct nlmsghdr *nlh, struct nftfwd_nlerr *out) {
    memset(out, 0, sizeof(*out));
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr)) { out->error = EBADMSG; return; }
    const struct nlmsgerr *err = (const struct nlmsgerr *)mnl_nlmsg_get_payload(nlh);
    out->error = (int)(0u - (unsigned)err->error);   // negated without signed overflow
    out->seq = err->msg.nlmsg_seq;
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return;
    size_t off = sizeof(*err);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
        // The request echoed back whole: its length must lie within the reply.
        if (err->msg.nlmsg_len < sizeof(struct nlmsghdr)) return;
        off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
        if (off > nlh->nlmsg_len - NLMSG_HDRLEN) return;
    }
    // Walked to the message's length, not to libmnl's aligned tail (mnl_attr_for_each): the
    // last message of a datagram may stop short of the alignment padding, and an attribute
    // reaching into that padding was read past the datagram (the conntrack fuzzer, ASan).
    const char *end = (const char *)nlh + nlh->nlmsg_len;
    const struct nlattr *attr = (const struct nlattr *)mnl_nlmsg_get_payload_offset(nlh, off);
    for (; (const char *)attr < end && mnl_attr_ok(attr, (int)(end - (const char *)attr)); attr = mnl_attr_next(attr)) {
        uint16_t len = mnl_attr_get_payload_len(attr);
        switch (mnl_attr_get_type(attr)) {
        case NLMSGERR_ATTR_OFFS:
            if (len >= sizeof(uint32_t)) out->attr_offset = mnl_attr_get_u32(attr);
            break;
        case NLMSGERR_ATTR_MSG: {
            // Not trusted to be NUL-terminated: copy at most the payload.
            size_t n = len < sizeof(out->msg) - 1 ? len : sizeof(out->msg) - 1;
            memcpy(out->msg, mnl_attr_get_payload(attr), n);
            out->msg[n] = 0;
            break;
        }
        }
    }
}

// A reply's message type (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_*), widened to 32 bits so the
// Swift side can mask the NFT_MSG_* byte without conversions.
static inline uint32_t nftfwd_nlmsg_type(const struct nlmsghdr *nlh) { return nlh->nlmsg_type; }

#endif
