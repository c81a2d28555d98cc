// Implementations for CLinux.h; built with _GNU_SOURCE (see Package.swift).
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <netinet/udp.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

_Static_assert(sizeof(struct sockaddr_storage) >= sizeof(struct sockaddr_in6), "sockaddr_storage too small");

int clinux_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

ssize_t clinux_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int clinux_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

const unsigned int CLINUX_SPLICE_F_MOVE = SPLICE_F_MOVE;
const unsigned int CLINUX_SPLICE_F_NONBLOCK = SPLICE_F_NONBLOCK;
const unsigned int CLINUX_SPLICE_F_MORE = SPLICE_F_MORE;

int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int clinux_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }

const uint32_t CLINUX_EPOLLIN = EPOLLIN, CLINUX_EPOLLOUT = EPOLLOUT, CLINUX_EPOLLERR = EPOLLERR,
    CLINUX_EPOLLHUP = EPOLLHUP, CLINUX_EPOLLRDHUP = EPOLLRDHUP, CLINUX_EPOLLET = EPOLLET,
    CLINUX_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE, CLINUX_EPOLLPRI = EPOLLPRI;

int clinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int clinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    static const int ops[3] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL };
    if (op < 0 || op > 2) { errno = EINVAL; return -1; }
    struct epoll_event ev = { .events = events, .data = { .u64 = data } };
    return epoll_ctl(epfd, ops[op], fd, &ev);
}

int clinux_epoll_wait(int epfd, clinux_ready_event *out, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) { out[i].data = events[i].data.u64; out[i].events = events[i].events; }
    return n;
}

int clinux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int clinux_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int clinux_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && errno == EAGAIN) return 0;
    return -1;
}

// Room for one IPv6 packet-info control message (larger than the IPv4 one).
#define CLINUX_CMSG_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

// Room for packet info plus a UDP_SEGMENT (GSO) size, for sends.
#define CLINUX_SEND_CMSG_SPACE (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))
// One GSO send carries at most this many datagrams and bytes (UDP_MAX_SEGMENTS; IP length).
#define CLINUX_GSO_MAX_SEGMENTS 64
#define CLINUX_GSO_MAX_BYTES 65000

// Slots start this many bytes apart beyond their size. With slots a power of two apart
// (64 KiB), the first bytes of every slot fall in the same cache sets: 32 datagrams of 1,400
// bytes compete for the same 22 sets of L1 and L2 (indexed by low address bits) and are
// evicted between the receive that writes them and the send that reads them. 24 lines more
// per slot puts the 32 slots in different sets.
#define CLINUX_SLOT_SKEW (24 * 64)

struct clinux_dgram_batch {
    unsigned int count, slot_size;
    size_t stride;              // slot_size + CLINUX_SLOT_SKEW
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_storage *peers;
    uint8_t *control;           // count * CLINUX_CMSG_SPACE (receive)
    struct mmsghdr *send_msgs;  // one per group of datagrams sent together
    uint8_t *send_control;      // count * CLINUX_SEND_CMSG_SPACE
    uint8_t *data;              // count * stride
};

clinux_dgram_batch *clinux_dgram_batch_create(unsigned int count, unsigned int slot_size) {
    clinux_dgram_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->count = count;
    b->slot_size = slot_size;
    b->stride = (size_t)slot_size + CLINUX_SLOT_SKEW;
    b->msgs = calloc(count, sizeof *b->msgs);
    b->iovs = calloc(count, sizeof *b->iovs);
    b->peers = calloc(count, sizeof *b->peers);
    b->control = calloc(count, CLINUX_CMSG_SPACE);
    b->send_msgs = calloc(count, sizeof *b->send_msgs);
    b->send_control = calloc(count, CLINUX_SEND_CMSG_SPACE);
    b->data = malloc((size_t)count * b->stride);   // not calloc: untouched pages stay unmapped
    if (!b->msgs || !b->iovs || !b->peers || !b->control || !b->send_msgs || !b->send_control || !b->data) {
        clinux_dgram_batch_destroy(b);
        return NULL;
    }
    return b;
}

void clinux_dgram_batch_destroy(clinux_dgram_batch *b) {
    if (!b) return;
    free(b->msgs); free(b->iovs); free(b->peers); free(b->control);
    free(b->send_msgs); free(b->send_control); free(b->data); free(b);
}

unsigned int clinux_dgram_batch_count(const clinux_dgram_batch *b) { return b->count; }

int clinux_dgram_batch_recv(clinux_dgram_batch *b, int fd) {
    for (unsigned int i = 0; i < b->count; i++) {
        b->iovs[i].iov_base = b->data + (size_t)i * b->stride;
        b->iovs[i].iov_len = b->slot_size;
        struct msghdr *h = &b->msgs[i].msg_hdr;
        h->msg_name = &b->peers[i];
        h->msg_namelen = sizeof b->peers[i];
        h->msg_iov = &b->iovs[i];
        h->msg_iovlen = 1;
        h->msg_control = b->control + (size_t)i * CLINUX_CMSG_SPACE;
        h->msg_controllen = CLINUX_CMSG_SPACE;
        h->msg_flags = 0;
        b->msgs[i].msg_len = 0;
    }
    return recvmmsg(fd, b->msgs, b->count, MSG_DONTWAIT, NULL);
}

const uint8_t *clinux_dgram_batch_data(const clinux_dgram_batch *b, unsigned int i, size_t *len) {
    *len = b->msgs[i].msg_len;
    return b->data + (size_t)i * b->stride;
}

socklen_t clinux_dgram_batch_peer(const clinux_dgram_batch *b, unsigned int i, struct sockaddr_storage *out) {
    socklen_t len = b->msgs[i].msg_hdr.msg_namelen;
    memcpy(out, &b->peers[i], len <= sizeof *out ? len : sizeof *out);
    return len;
}

unsigned int clinux_dgram_batch_run_end(const clinux_dgram_batch *b, unsigned int start, unsigned int end) {
    if (end > b->count) end = b->count;
    const struct sockaddr_storage *first = &b->peers[start];
    size_t len = first->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    unsigned int i = start + 1;
    while (i < end && b->peers[i].ss_family == first->ss_family && memcmp(&b->peers[i], first, len) == 0) i++;
    return i;
}

socklen_t clinux_dgram_batch_local(const clinux_dgram_batch *b, unsigned int i, struct sockaddr_storage *out, int *ifindex) {
    struct msghdr *h = (struct msghdr *)&b->msgs[i].msg_hdr;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = info.ipi_addr };
            memset(out, 0, sizeof *out);
            memcpy(out, &sin, sizeof sin);
            *ifindex = info.ipi_ifindex;
            return sizeof sin;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = info.ipi6_addr };
            memset(out, 0, sizeof *out);
            memcpy(out, &sin6, sizeof sin6);
            *ifindex = (int)info.ipi6_ifindex;
            return sizeof sin6;
        }
    }
    return 0;
}

// Appends a packet-info control message choosing the source address `from`; returns its space.
static size_t put_pktinfo(struct cmsghdr *c, const struct sockaddr *from, int ifindex) {
    if (from->sa_family == AF_INET) {
        struct in_pktinfo info = { .ipi_ifindex = 0, .ipi_spec_dst = ((const struct sockaddr_in *)from)->sin_addr };
        c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof info);
        memcpy(CMSG_DATA(c), &info, sizeof info);
        return CMSG_SPACE(sizeof info);
    }
    struct in6_pktinfo info = { .ipi6_addr = ((const struct sockaddr_in6 *)from)->sin6_addr, .ipi6_ifindex = (unsigned)ifindex };
    c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO; c->cmsg_len = CMSG_LEN(sizeof info);
    memcpy(CMSG_DATA(c), &info, sizeof info);
    return CMSG_SPACE(sizeof info);
}

// Appends a UDP_SEGMENT control message (UDP GSO: the kernel cuts one send into datagrams of
// `size` bytes, so the IP/loopback/netfilter path runs once per group instead of per datagram).
static size_t put_gso(struct cmsghdr *c, uint16_t size) {
    c->cmsg_level = SOL_UDP; c->cmsg_type = UDP_SEGMENT; c->cmsg_len = CMSG_LEN(sizeof size);
    memcpy(CMSG_DATA(c), &size, sizeof size);
    return CMSG_SPACE(sizeof size);
}

// Builds send_msgs for slots [start, start+count): consecutive datagrams of equal length (the
// last of a group may be shorter) share one message with GSO when `gso`; returns the groups
// and their datagram counts in `segments`.
static unsigned int build_groups(clinux_dgram_batch *b, unsigned int start, unsigned int count, int gso,
    const struct sockaddr *to, socklen_t tolen, const struct sockaddr *from, int from_ifindex, unsigned int *segments) {
    unsigned int groups = 0, i = start, end = start + count;
    while (i < end) {
        size_t size = b->msgs[i].msg_len, total = size;
        unsigned int n = 1;
        b->iovs[i].iov_len = size;
        if (gso && size > 0) {
            while (i + n < end && n < CLINUX_GSO_MAX_SEGMENTS && total + b->msgs[i + n].msg_len <= CLINUX_GSO_MAX_BYTES) {
                size_t next = b->msgs[i + n].msg_len;
                if (next > size || next == 0) break;
                b->iovs[i + n].iov_len = next;
                total += next;
                n++;
                if (next < size) break;   // a shorter datagram can only end a group
            }
        }
        struct mmsghdr *m = &b->send_msgs[groups];
        struct msghdr *h = &m->msg_hdr;
        memset(m, 0, sizeof *m);
        h->msg_name = (void *)to;
        h->msg_namelen = to ? tolen : 0;
        h->msg_iov = &b->iovs[i];
        h->msg_iovlen = n;
        uint8_t *control = b->send_control + (size_t)groups * CLINUX_SEND_CMSG_SPACE;
        memset(control, 0, CLINUX_SEND_CMSG_SPACE);
        h->msg_control = control;
        h->msg_controllen = CLINUX_SEND_CMSG_SPACE;
        // Control messages are packed back to back; CMSG_SPACE keeps each one aligned.
        size_t used = 0;
        if (from && (from->sa_family == AF_INET || from->sa_family == AF_INET6))
            used += put_pktinfo((struct cmsghdr *)(control + used), from, from_ifindex);
        if (n > 1) used += put_gso((struct cmsghdr *)(control + used), (uint16_t)size);
        h->msg_controllen = used;
        if (used == 0) h->msg_control = NULL;
        segments[groups++] = n;
        i += n;
    }
    return groups;
}

int clinux_dgram_batch_send(clinux_dgram_batch *b, int fd, unsigned int start, unsigned int count,
    const struct sockaddr *to, socklen_t tolen, const struct sockaddr *from, int from_ifindex, int *use_gso) {
    if (start + count > b->count) { errno = EINVAL; return -1; }
    unsigned int segments[count ? count : 1];
    int gso = use_gso && *use_gso;
    unsigned int groups = build_groups(b, start, count, gso, to, tolen, from, from_ifindex, segments);
    unsigned int done = 0, sent = 0;
    while (done < groups) {
        int n = sendmmsg(fd, b->send_msgs + done, groups - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (gso && (errno == EIO || errno == EINVAL || errno == EMSGSIZE || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
                // This socket's path cannot segment (no device support, MTU below the
                // datagram size): resend the rest one datagram per message, and tell the
                // caller not to use GSO on this socket again.
                *use_gso = 0;
                int rest = clinux_dgram_batch_send(b, fd, start + sent, count - sent, to, tolen, from, from_ifindex, NULL);
                return rest < 0 ? (sent ? (int)sent : -1) : (int)(sent + rest);
            }
            return sent ? (int)sent : -1;
        }
        for (int g = 0; g < n; g++) sent += segments[done + g];
        done += n;
    }
    return (int)sent;
}

int clinux_enable_pktinfo(int fd, int family) {
    int on = 1;
    if (family == AF_INET6) return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
}

int clinux_spawn_actions_closefrom(void *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
}
