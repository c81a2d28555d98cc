import SystemCalls
// NFTRelay: a userland TCP/UDP relay (the part of port publishing that nftables cannot do,
// e.g. connections from the host to 127.0.0.1, and the docker-proxy drop-in).
//
// Layers, bottom to top (each folder one job):
//   (below)   SystemCalls, the shared syscall layer: the one EINTR/EAGAIN loop (Syscall),
//             SyscallError, Posix, Sockets, Splice, Epoll, DatagramBatch (recvmmsg/sendmmsg),
//             MonotonicClock, Threads, and the socket calls that take or give a SocketAddress
//             (with the sockaddr conversion of NetworkAddress's types). Nothing in NFTRelay
//             calls C itself.
//   System/   TCP keepalive as the relay's settings name it.
//   Loop/     EventLoop (epoll + eventfd wake-up + registration ids + resumption of
//             handlers that spent their byte budget) and TimerQueue.
//   TCP/      TCPListener (accept, limits, per-source limit, EMFILE back-off, connect and
//             idle timeouts), TCPConnection (one relayed pair), RelayDirection (splice pump
//             with a byte budget per wake-up), PipePool, PendingConnects, IdleConnections.
//   UDP/      UDPListener (batched receive, flows), UDPFlow, FlowTable (LRU + expiry, flows
//             grouped per client address for fair eviction).
//   Engine/   the public API: RelayEngine, ListenerSpec, ListenerStats, RelayError,
//             RelayEvent (once-per-episode reports), and LoopCore, the loop-thread side of
//             an engine, and ListenerShare, what the loops of one listener share.
//
// Usage:
//     let engine = try RelayEngine(loops: 2)   // one loop per core you want to use
//     let id = try engine.addListener(ListenerSpec(
//         proto: .tcp,
//         listen: SocketAddress("127.0.0.1", port: 8080)!,
//         target: SocketAddress("10.0.0.2", port: 80)!))
//     try engine.start()                 // or: try engine.run(stoppingOn: [SIGINT, SIGTERM])
//     print(engine.stats(for: id)!)      // state, active and total connections
//     engine.removeListener(id)
//     engine.stop()
