#if canImport(Glibc)
import Glibc
#endif
import CLinux
import NetworkAddress

/// Slots for receiving and sending many datagrams per system call (`recvmmsg(2)`,
/// `sendmmsg(2)`), with the local destination address of each received datagram taken from
/// IP_PKTINFO / IPV6_PKTINFO. The slot memory lives in C (struct mmsghdr is GNU-only).
///
/// Concurrency model: used by one thread; contents are valid until the next `receive`.
public final class DatagramBatch {
    private let batch: OpaquePointer
    public let count: Int

    public init(count: Int, slotSize: Int) throws(SyscallError) {
        guard let batch = clinux_dgram_batch_create(UInt32(count), UInt32(slotSize)) else {
            throw SyscallError("malloc", .noMemory)
        }
        self.batch = batch
        self.count = count
    }

    deinit { clinux_dgram_batch_destroy(batch) }

    /// Receives up to `count` datagrams from `fd`. `recvmmsg(2)`
    public func receive(_ fd: Int32) throws(SyscallError) -> IOResult<Int> {
        switch try Syscall.call("recvmmsg", { clinux_dgram_batch_recv(batch, fd) }) {
        case .done(let n): return .done(Int(n))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// The raw sender address of slot `i` (compared without building a `SocketAddress`).
    public func peer(_ i: Int) -> sockaddr_storage {
        var storage = sockaddr_storage()
        _ = clinux_dgram_batch_peer(batch, UInt32(i), &storage)
        return storage
    }

    /// The end of the run of slots from `start` (before `end`) sent from slot `start`'s address
    /// and port (same family, same sockaddr_in/sockaddr_in6 bytes), compared where they lie:
    /// copying two 128-byte addresses out per datagram to group a batch by client was a third
    /// of the UDP relay's user-space instructions (callgrind).
    public func runEnd(from start: Int, before end: Int) -> Int {
        Int(clinux_dgram_batch_run_end(batch, UInt32(start), UInt32(end)))
    }

    /// The local address slot `i` was sent to and the interface it came in on, if known.
    public func local(_ i: Int) -> (sockaddr_storage, Int32)? {
        var storage = sockaddr_storage()
        var ifindex: Int32 = 0
        return clinux_dgram_batch_local(batch, UInt32(i), &storage, &ifindex) == 0 ? nil : (storage, ifindex)
    }

    /// Sends slots `range` as received, to `destination` (nil: the socket is connected), from
    /// `source` (nil: let routing choose), runs of equal sizes as UDP GSO messages while
    /// `gso` is true (it turns false for good if this socket's path refuses GSO).
    /// Datagrams the socket buffer cannot take are dropped, as a router would. Returns how
    /// many went out. `sendmmsg(2)`
    @discardableResult
    public func send(_ fd: Int32, _ range: Range<Int>, gso: inout Bool, to destination: UnsafePointer<sockaddr>? = nil,
              length: socklen_t = 0, from source: UnsafePointer<sockaddr>? = nil, ifindex: Int32 = 0) throws(SyscallError) -> Int {
        var sent = range.lowerBound
        var useGSO: Int32 = gso ? 1 : 0
        defer { gso = useGSO != 0 }
        while sent < range.upperBound {
            let result = try Syscall.call("sendmmsg") {
                clinux_dgram_batch_send(batch, fd, UInt32(sent), UInt32(range.upperBound - sent), destination, length, source, ifindex, &useGSO)
            }
            guard case .done(let n) = result, n > 0 else { break }
            sent += Int(n)
        }
        return sent - range.lowerBound
    }
}
