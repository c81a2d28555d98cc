// NFTRelay's public errors and events carry SystemErrno's Errno, so its users get the type
// with the relay. SystemCalls (SyscallError) is not re-exported: a target that names it
// depends on SystemCalls itself.
@_exported import SystemErrno
