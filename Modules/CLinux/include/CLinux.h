#ifndef CLINUX_H
#define CLINUX_H
// C shim for the relay: Linux calls and types that Swift's Glibc module does not expose
// (it is built without _GNU_SOURCE and leaves out sys/epoll.h, sys/eventfd.h, sys/signalfd.h,
// struct mmsghdr and in6_pktinfo). Only plain C types cross this boundary, so the header
// never depends on GNU-only declarations; the .c file includes the real headers.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

// --- pipes and splice -------------------------------------------------------------------

// pipe2 is GNU-only; we need O_NONBLOCK|O_CLOEXEC atomically.
int clinux_pipe2(int fds[2], int flags);
// splice is GNU-only; offsets are always NULL here (sockets and pipes only).
ssize_t clinux_splice(int fd_in, int fd_out, size_t len, unsigned int flags);
// F_SETPIPE_SZ is GNU-only; returns the new capacity or -1.
int clinux_set_pipe_size(int fd, int size);
// SPLICE_F_* are GNU-only macros.
extern const unsigned int CLINUX_SPLICE_F_MOVE;
extern const unsigned int CLINUX_SPLICE_F_NONBLOCK;
extern const unsigned int CLINUX_SPLICE_F_MORE;

// --- sockets ------------------------------------------------------------------------------

// accept4 is GNU-only; it sets SOCK_NONBLOCK|SOCK_CLOEXEC on the new socket atomically.
int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

// --- processes ----------------------------------------------------------------------------

// posix_spawn_file_actions_addclosefrom_np is GNU-only (glibc 2.34): the child closes every
// descriptor from `from` up, after the earlier actions. `actions` is a posix_spawn_file_actions_t *.
int clinux_spawn_actions_closefrom(void *actions, int from);

// --- namespaces ---------------------------------------------------------------------------

// setns and CLONE_NEWNET are GNU-only; joins the network namespace open at fd (this thread only).
int clinux_setns_net(int fd);

// --- epoll / eventfd / signalfd -----------------------------------------------------------

// One ready event, laid out plainly (struct epoll_event is packed on x86-64 and hidden from Swift).
typedef struct { uint64_t data; uint32_t events; } clinux_ready_event;

extern const uint32_t CLINUX_EPOLLIN, CLINUX_EPOLLOUT, CLINUX_EPOLLERR, CLINUX_EPOLLHUP,
    CLINUX_EPOLLRDHUP, CLINUX_EPOLLET, CLINUX_EPOLLEXCLUSIVE, CLINUX_EPOLLPRI;
// epoll_create1(EPOLL_CLOEXEC): sys/epoll.h is not in Swift's Glibc module.
int clinux_epoll_create(void);
// epoll_ctl with the event built here; op is 0 add, 1 modify, 2 delete.
int clinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
// epoll_wait copying the packed kernel events into plain ones (at most 256 per call).
int clinux_epoll_wait(int epfd, clinux_ready_event *out, int max, int timeout_ms);
// eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC): sys/eventfd.h is not in Swift's Glibc module.
int clinux_eventfd(void);
// signalfd for the given signals (which the caller has blocked); returns the fd.
int clinux_signalfd(const int *signals, int count);
// Reads one siginfo from a signalfd; returns the signal number, 0 if none, -1 on error.
int clinux_signalfd_read(int fd);

// --- datagram batches (recvmmsg/sendmmsg with packet info) --------------------------------

// A set of datagram slots for recvmmsg/sendmmsg; struct mmsghdr is GNU-only, so it stays in C.
typedef struct clinux_dgram_batch clinux_dgram_batch;
clinux_dgram_batch *clinux_dgram_batch_create(unsigned int count, unsigned int slot_size);
void clinux_dgram_batch_destroy(clinux_dgram_batch *batch);
unsigned int clinux_dgram_batch_count(const clinux_dgram_batch *batch);
// recvmmsg(MSG_DONTWAIT) into the slots; records peers and IP_PKTINFO/IPV6_PKTINFO destinations.
int clinux_dgram_batch_recv(clinux_dgram_batch *batch, int fd);
// Slot accessors after a receive.
const uint8_t *clinux_dgram_batch_data(const clinux_dgram_batch *batch, unsigned int i, size_t *len);
// The sender of slot i (sockaddr_in or sockaddr_in6 in *out); returns its length.
socklen_t clinux_dgram_batch_peer(const clinux_dgram_batch *batch, unsigned int i, struct sockaddr_storage *out);
// The first slot after `start` and before `end` not from the same IPv4/IPv6 address and port
// as slot `start` (compared in place), or `end`.
unsigned int clinux_dgram_batch_run_end(const clinux_dgram_batch *batch, unsigned int start, unsigned int end);
// The local address slot i was sent to, from packet info (port 0); returns 0 if there was none.
socklen_t clinux_dgram_batch_local(const clinux_dgram_batch *batch, unsigned int i, struct sockaddr_storage *out, int *ifindex);
// sendmmsg(MSG_DONTWAIT) of slots [start, start+count) as received; `to` NULL for a connected socket;
// `from` non-NULL sets the source address with IP_PKTINFO/IPV6_PKTINFO. Runs of equal-sized
// datagrams go out as one UDP GSO (UDP_SEGMENT) message each if *use_gso (per socket; set to 0
// when the kernel refuses GSO on it). Returns datagrams sent (fewer when the socket buffer
// filled up), or -1.
int clinux_dgram_batch_send(clinux_dgram_batch *batch, int fd, unsigned int start, unsigned int count,
    const struct sockaddr *to, socklen_t tolen, const struct sockaddr *from, int from_ifindex, int *use_gso);
// Turns on IP_PKTINFO (IPv4) or IPV6_RECVPKTINFO (IPv6) on a datagram socket.
int clinux_enable_pktinfo(int fd, int family);

#endif
