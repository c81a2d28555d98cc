import SystemCalls
/// A listening (TCP) or bound (UDP) socket, shared by the loops that serve it and closed when
/// the last of them lets go. With several loops, each registers the same fd in its own epoll
/// (exclusively, so one wakes per client) and accepts from it.
///
/// Concurrency model: immutable; the fd is closed exactly once, in deinit, after every loop
/// deregistered it and released its reference.
final class ListenerSocket: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { Posix.close(fd) }
}
