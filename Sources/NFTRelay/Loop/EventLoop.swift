#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import CLinux

/// Something that reacts to readiness of the fds it registered.
protocol EventHandler: AnyObject {
    func handle(fd: Int32, events: Epoll.Events)
}

/// A handler that stopped before it ran out of work (it spent its byte budget) so the rest
/// of the loop gets a turn; the loop calls it again right after the next round of events.
protocol YieldingHandler: AnyObject {
    func resumeAfterYield()
}

/// Wakes an `EventLoop` from any thread by writing its eventfd.
struct LoopWaker: Sendable {
    let fd: Int32
    func wake() {
        Epoll.signal(eventFD: fd)
    }
}

/// One epoll instance with timers and an eventfd wake-up.
///
/// Concurrency model: an `EventLoop` is confined to the one thread that calls `run`; every
/// method except `waker.wake()` must be called on that thread (handlers run there too).
/// Other threads talk to it only by queueing work elsewhere and calling `waker.wake()`, after
/// which the loop calls `onWake` on its own thread.
///
/// Each registration gets a fresh 32-bit id stored with the fd in the epoll user data
/// (`id << 32 | fd`); an event whose id no longer matches the fd's current registration is
/// stale (the fd was closed and reused within one `epoll_wait` batch) and is ignored.
final class EventLoop {
    private struct Registration {
        var id: UInt32
        var handler: EventHandler
    }

    private let epfd: Int32
    private let wakeFD: Int32
    private var registrations: [Registration?] = []
    private var nextID: UInt32 = 1
    private var timers = TimerQueue()
    private var stopping = false
    private let events = UnsafeMutableBufferPointer<clinux_ready_event>.allocate(capacity: 256)
    /// Handlers to resume after the next `epoll_wait` (which then does not block), and the
    /// list being resumed; two arrays swapped each turn, so queueing never allocates once
    /// they have grown.
    private var yielded: [YieldingHandler] = []
    private var resuming: [YieldingHandler] = []

    /// The loop's cached monotonic time (ns), refreshed after every `epoll_wait`.
    private(set) var now: UInt64 = MonotonicClock.now()
    /// Called on the loop thread after another thread called `waker.wake()`.
    var onWake: () -> Void = {}
    let waker: LoopWaker

    init() throws(SyscallError) {
        epfd = try Epoll.create()
        do {
            wakeFD = try Epoll.eventFD()
        } catch {
            Posix.close(epfd)
            throw error
        }
        waker = LoopWaker(fd: wakeFD)
        do {
            try Epoll.control(epfd, .add, wakeFD, .readable, data: UInt64(UInt32(bitPattern: wakeFD)))
        } catch {
            Posix.close(epfd); Posix.close(wakeFD)
            throw error
        }
    }

    deinit {
        Posix.close(epfd)
        Posix.close(wakeFD)
        events.deallocate()
    }

    // MARK: registrations

    /// Starts watching `fd` for `events` on behalf of `handler` (the loop keeps it alive
    /// until `deregister`).
    func register(_ fd: Int32, _ events: Epoll.Events, _ handler: EventHandler) throws(SyscallError) {
        let index = Int(fd)
        if index >= registrations.count {
            registrations.append(contentsOf: repeatElement(nil, count: max(index + 1 - registrations.count, 64)))
        }
        nextID = nextID == UInt32.max ? 1 : nextID + 1
        let id = nextID
        try Epoll.control(epfd, .add, fd, events, data: UInt64(id) << 32 | UInt64(UInt32(bitPattern: fd)))
        registrations[index] = Registration(id: id, handler: handler)
    }

    /// Changes the watched events of a registered fd (keeping its id).
    func modify(_ fd: Int32, _ events: Epoll.Events) throws(SyscallError) {
        guard let registration = registrations[Int(fd)] else { return }
        try Epoll.control(epfd, .modify, fd, events, data: UInt64(registration.id) << 32 | UInt64(UInt32(bitPattern: fd)))
    }

    /// Stops watching `fd`; call before closing it.
    func deregister(_ fd: Int32) {
        let index = Int(fd)
        guard index < registrations.count, registrations[index] != nil else { return }
        registrations[index] = nil
        try? Epoll.control(epfd, .delete, fd, [], data: 0)
    }

    /// Drops the registration of an fd that is about to be closed, without epoll_ctl: closing
    /// the last reference to a file removes it from epoll anyway. Only for fds nobody else
    /// holds (sockets we created or accepted; not a listen fd passed in by another process).
    /// Saves a system call per socket on the short-connection path.
    func forget(_ fd: Int32) {
        let index = Int(fd)
        guard index < registrations.count else { return }
        registrations[index] = nil
    }

    /// Has `handler.resumeAfterYield()` called after the next round of events (loop thread).
    /// An edge-triggered handler that stops early gets no new event for the bytes it left,
    /// so it must be queued here; each call queues one resumption.
    func resumeLater(_ handler: YieldingHandler) {
        yielded.append(handler)
    }

    // MARK: timers

    @discardableResult
    func schedule(after delay: UInt64, _ action: @escaping () -> Void) -> TimerToken {
        timers.schedule(at: now &+ delay, action)
    }

    // MARK: running

    /// Asks `run` to return after the current iteration (loop thread only).
    func stop() { stopping = true }

    /// Dispatches events and timers until `stop()` is called.
    func run() throws(SyscallError) {
        stopping = false
        while !stopping {
            let timeout: Int32
            if !yielded.isEmpty {
                timeout = 0   // look for new events, but do not wait: work is left over
            } else if let deadline = timers.nextDeadline {
                let current = MonotonicClock.now()
                timeout = deadline <= current ? 0 : Int32(min((deadline - current + 999_999) / 1_000_000, 60_000))
            } else {
                timeout = -1
            }
            let count = try Epoll.wait(epfd, into: events, timeoutMS: timeout)
            now = MonotonicClock.now()
            for i in 0..<count {
                let event = events[i]
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data))
                let id = UInt32(truncatingIfNeeded: event.data >> 32)
                if id == 0 && fd == wakeFD {
                    drainWakeups()
                    continue
                }
                guard Int(fd) < registrations.count, let registration = registrations[Int(fd)], registration.id == id else { continue }
                registration.handler.handle(fd: fd, events: Epoll.Events(rawValue: event.events))
            }
            if !yielded.isEmpty {
                swap(&yielded, &resuming)
                for handler in resuming { handler.resumeAfterYield() }
                resuming.removeAll(keepingCapacity: true)
            }
            if !timers.isEmpty {
                for action in timers.popDue(now: now) { action() }
            }
        }
    }

    private func drainWakeups() {
        Epoll.drain(eventFD: wakeFD)
        onWake()
    }
}
