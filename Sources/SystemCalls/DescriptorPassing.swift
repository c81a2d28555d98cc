#if canImport(Glibc)
import Glibc
#endif

/// Sending open descriptors to another process over a unix socket (SCM_RIGHTS), the
/// primitive under `relay --replace`: the old relay hands its listening sockets to the new one,
/// which then holds the very same sockets (the kernel duplicates them into the receiver), so
/// their accept queues and bound addresses never go away.
///
/// One `send` is one `sendmsg`: `payload` (what the descriptors are) and up to `maxPerMessage`
/// descriptors travel together. Use it on a SOCK_SEQPACKET socket, where one `receive` gets
/// exactly one message; on a stream socket message boundaries are not kept.
///
/// Swift cannot import the CMSG_* macros; the control buffer is laid out here as they would
/// (a `cmsghdr`, then the descriptors at its size rounded up to a `size_t`).
public enum DescriptorPassing {
    /// The kernel's SCM_MAX_FD (253); a few less leaves no doubt.
    public static let maxPerMessage = 250

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case system(String, Errno)
        /// More descriptors or bytes arrived than the receiver allowed (they were closed).
        case truncated
        /// The peer closed the socket before sending a message.
        case closed
        case tooMany(Int)

        public var description: String {
            switch self {
            case .system(let call, let e): return "\(call) failed: \(e.message)"
            case .truncated: return "the handover message was larger than expected (its descriptors were closed)"
            case .closed: return "the other relay closed the handover socket without an answer"
            case .tooMany(let n): return "\(n) descriptors in one message (at most \(maxPerMessage))"
            }
        }
    }

    private static var headerSpace: Int { align(MemoryLayout<cmsghdr>.size) }
    private static func align(_ n: Int) -> Int {
        let word = MemoryLayout<Int>.size
        return (n + word - 1) / word * word
    }

    /// Sends `payload` (not empty) with `fds` over `socket`; the caller keeps its descriptors.
    public static func send(_ fds: [Int32], payload: [UInt8], over socket: Int32) throws(Failure) {
        precondition(!payload.isEmpty, "a message carries at least one byte")
        guard fds.count <= maxPerMessage else { throw .tooMany(fds.count) }
        let dataLength = fds.count * MemoryLayout<Int32>.size
        var control = [UInt8](repeating: 0, count: fds.isEmpty ? 0 : headerSpace + align(dataLength))
        var bytes = payload
        let sent: Result<Int, SyscallError> = control.withUnsafeMutableBytes { controlRaw in
            if !fds.isEmpty {
                var header = cmsghdr()
                header.cmsg_len = headerSpace + dataLength
                header.cmsg_level = SOL_SOCKET
                header.cmsg_type = Int32(SCM_RIGHTS)
                controlRaw.storeBytes(of: header, as: cmsghdr.self)
                for (i, fd) in fds.enumerated() {
                    controlRaw.storeBytes(of: fd, toByteOffset: headerSpace + i * MemoryLayout<Int32>.size, as: Int32.self)
                }
            }
            return bytes.withUnsafeMutableBytes { payloadRaw in
                var iov = iovec(iov_base: payloadRaw.baseAddress, iov_len: payloadRaw.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = fds.isEmpty ? nil : controlRaw.baseAddress
                    message.msg_controllen = controlRaw.count
                    return Result { () throws(SyscallError) in
                        try Syscall.checked("sendmsg") { sendmsg(socket, &message, Int32(MSG_NOSIGNAL)) }
                    }
                }
            }
        }
        guard case .success(let rc) = sent else { throw .system("sendmsg", sent.errno) }
        if rc != payload.count { throw .truncated }   // SEQPACKET sends all or nothing; never partial
    }

    /// Receives one message of at most `maxPayload` bytes and `maxDescriptors` descriptors
    /// (close-on-exec, owned by the caller). A larger message is refused and whatever
    /// descriptors came with it are closed: none leaks.
    public static func receive(over socket: Int32, maxPayload: Int, maxDescriptors: Int) throws(Failure) -> (payload: [UInt8], fds: [Int32]) {
        var bytes = [UInt8](repeating: 0, count: max(1, maxPayload))
        var control = [UInt8](repeating: 0, count: headerSpace + align(max(1, maxDescriptors) * MemoryLayout<Int32>.size))
        var flags: Int32 = 0
        var filled = 0   // control bytes the kernel filled in
        let received: Result<Int, SyscallError> = control.withUnsafeMutableBytes { controlRaw in
            bytes.withUnsafeMutableBytes { payloadRaw in
                var iov = iovec(iov_base: payloadRaw.baseAddress, iov_len: payloadRaw.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlRaw.baseAddress
                    message.msg_controllen = controlRaw.count
                    // MSG_CMSG_CLOEXEC (GNU-only in the headers): the relay never forks, but a
                    // test harness might.
                    let n = Result { () throws(SyscallError) in try Syscall.checked("recvmsg") { recvmsg(socket, &message, 0x4000_0000) } }
                    flags = message.msg_flags
                    filled = (try? n.get()) != nil ? message.msg_controllen : 0
                    return n
                }
            }
        }
        guard case .success(let n) = received else { throw .system("recvmsg", received.errno) }
        let fds = control.withUnsafeBytes { raw -> [Int32] in
            guard filled >= headerSpace else { return [] }
            let header = raw.load(as: cmsghdr.self)
            guard header.cmsg_level == SOL_SOCKET, header.cmsg_type == Int32(SCM_RIGHTS), header.cmsg_len >= headerSpace else { return [] }
            let count = (min(header.cmsg_len, filled) - headerSpace) / MemoryLayout<Int32>.size
            return (0..<count).map { raw.load(fromByteOffset: headerSpace + $0 * MemoryLayout<Int32>.size, as: Int32.self) }
        }
        if flags & Int32(MSG_CTRUNC) != 0 || flags & Int32(MSG_TRUNC) != 0 {
            for fd in fds { Posix.close(fd) }
            throw .truncated
        }
        if n == 0 && fds.isEmpty { throw .closed }
        return (Array(bytes[0..<n]), fds)
    }
}

extension Result where Failure == SyscallError {
    /// The errno of a failure (0 for a success, never asked for).
    fileprivate var errno: Errno {
        if case .failure(let error) = self { return error.errno }
        return Errno(0)
    }
}
