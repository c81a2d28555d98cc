#if canImport(Glibc)
import Glibc
#endif
import NetworkAddress

/// Whether something accepts TCP connections at each of a few addresses: non-blocking
/// connects started together, awaited with one `poll(2)` loop, closed as soon as answered
/// (an orderly close, FIN: a service that greets its clients saw a reset kill it). `nftfwd doctor` uses it on the
/// targets of published mappings.
public enum ConnectProbe {
    public enum Outcome: Sendable, Equatable {
        case accepted
        /// The target host answered with a reset: nothing listens on that port.
        case refused
        /// No answer before the deadline (a firewall dropping, or no such host).
        case noAnswer
        /// Another error, e.g. no route to the host.
        case failed(Errno)
    }

    /// Probes every address at once and waits at most `timeoutMilliseconds` for all of them.
    public static func probe(_ addresses: [SocketAddress], timeoutMilliseconds: Int) -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: addresses.count)
        var pending: [(index: Int, fd: Int32)] = []
        for (index, address) in addresses.enumerated() {
            do {
                let fd = try Sockets.open(address.family, .stream)
                do {
                    if try Sockets.connect(fd, to: address) == .connected {
                        outcomes[index] = .accepted
                        Posix.close(fd)
                    } else {
                        pending.append((index, fd))
                    }
                } catch {
                    outcomes[index] = outcome(error.errno)
                    Posix.close(fd)
                }
            } catch {
                outcomes[index] = .failed(error.errno)
            }
        }
        let deadline = MonotonicClock.now() + UInt64(max(0, timeoutMilliseconds)) * 1_000_000
        while !pending.isEmpty {
            let now = MonotonicClock.now()
            guard now < deadline else { break }
            let left = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            var fds = pending.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            do {
                _ = try Posix.poll(&fds, timeoutMS: left, retryOnInterrupt: false)
            } catch {
                guard error.errno == .interrupted else { break }   // EINTR: nothing ready, deadline checked again
            }
            var still: [(index: Int, fd: Int32)] = []
            for (slot, entry) in zip(fds, pending) {
                guard slot.revents != 0 else { still.append(entry); continue }
                outcomes[entry.index] = Sockets.pendingError(entry.fd).map(outcome) ?? .accepted
                Posix.close(entry.fd)
            }
            pending = still
        }
        for entry in pending {
            outcomes[entry.index] = .noAnswer
            Posix.close(entry.fd)
        }
        return outcomes.map { $0 ?? .noAnswer }
    }

    private static func outcome(_ error: Errno) -> Outcome {
        error == .connectionRefused ? .refused : .failed(error)
    }
}
