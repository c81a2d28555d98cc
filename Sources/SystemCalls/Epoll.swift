#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// epoll, eventfd and signalfd: the readiness primitives of the event loop.
public enum Epoll {
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: CLINUX_EPOLLIN)
        public static let writable = Events(rawValue: CLINUX_EPOLLOUT)
        public static let error = Events(rawValue: CLINUX_EPOLLERR)
        public static let hangup = Events(rawValue: CLINUX_EPOLLHUP)
        public static let readHangup = Events(rawValue: CLINUX_EPOLLRDHUP)
        /// TCP: urgent data is waiting (a read stops short at its mark).
        public static let priority = Events(rawValue: CLINUX_EPOLLPRI)
        public static let edgeTriggered = Events(rawValue: CLINUX_EPOLLET)
        /// Wake only one of the epoll instances watching a shared fd (a listener served by
        /// several loops). Cannot be changed with EPOLL_CTL_MOD: re-register instead.
        public static let exclusive = Events(rawValue: CLINUX_EPOLLEXCLUSIVE)
    }

    /// `epoll_create1(EPOLL_CLOEXEC)`
    public static func create() throws(SyscallError) -> Int32 {
        try Syscall.value("epoll_create1") { clinux_epoll_create() }
    }

    public enum Operation: Int32 { case add = 0, modify = 1, delete = 2 }

    /// `epoll_ctl(2)`; `data` comes back with every event for this fd.
    @inlinable
    public static func control(_ epfd: Int32, _ op: Operation, _ fd: Int32, _ events: Events, data: UInt64) throws(SyscallError) {
        _ = try Syscall.value("epoll_ctl") { clinux_epoll_ctl(epfd, op.rawValue, fd, events.rawValue, data) }
    }

    /// `epoll_wait(2)` into `buffer` (EINTR is retried by `Syscall`).
    @inlinable
    public static func wait(_ epfd: Int32, into buffer: UnsafeMutableBufferPointer<clinux_ready_event>, timeoutMS: Int32) throws(SyscallError) -> Int {
        switch try Syscall.call("epoll_wait", { clinux_epoll_wait(epfd, buffer.baseAddress, Int32(buffer.count), timeoutMS) }) {
        case .done(let n): return Int(n)
        case .wouldBlock: return 0
        }
    }

    /// `eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC)`
    public static func eventFD() throws(SyscallError) -> Int32 {
        try Syscall.value("eventfd") { clinux_eventfd() }
    }

    /// Adds one to an eventfd's counter, waking its reader. From any thread, even racing the
    /// loop's shutdown: errors (EBADF of a closed loop, EAGAIN of a full counter) are ignored,
    /// not trapped, since the wake-up is then moot. `write(2)` of 8 bytes
    @inlinable
    public static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
    }

    /// Resets an eventfd's counter (its value is not needed). `read(2)` of 8 bytes
    @inlinable
    public static func drain(eventFD fd: Int32) {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(fd, $0.baseAddress, 8) }
    }

    /// The next pending signal of a signalfd, or nil if none is pending. `read(2)` of a
    /// `signalfd_siginfo`
    public static func readSignal(_ fd: Int32) -> Int32? {
        let signal = clinux_signalfd_read(fd)
        return signal > 0 ? signal : nil
    }

    /// A signalfd for `signals`, which the caller must have blocked. `signalfd(2)`
    public static func signalFD(_ signals: [Int32]) throws(SyscallError) -> Int32 {
        try Syscall.value("signalfd") { signals.withUnsafeBufferPointer { clinux_signalfd($0.baseAddress, Int32($0.count)) } }
    }
}
