#if FUZZING
#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Runs a body in a forked child and tells how it ended.
enum ChildRun {
    /// The exit status the address sanitizer gives a process it stopped (see
    /// `__asan_default_options` below), so that a child's memory error is not taken for
    /// libnftnl's deliberate exit 1.
    static let sanitizerExitCode: Int32 = 86

    /// True when the child ran `body` to its end; false when it exited 1 (libnftnl's ABI stop).
    /// Traps when the child crashed, so libFuzzer keeps this input.
    static func completes(_ body: () -> Void) -> Bool {
        let pid = fork()
        precondition(pid >= 0, "fork failed")
        if pid == 0 {
            // Handlers run last-registered first: an exit from libnftnl ends the child with
            // status 1 before libFuzzer's handler (inherited from the parent) reports the
            // input as a crash and saves it.
            atexit { _exit(1) }
            body()
            _exit(0)   // no atexit handlers: libFuzzer's and the leak checker belong to the parent
        }
        // ECHILD cannot happen for our own child; 0 then reads as a clean exit, as before.
        let status = (try? Processes.waitForExit(pid)) ?? 0
        let signal = status & 0x7f
        guard signal == 0 else { fatalError("the readers died of signal \(signal) on this input (in a child)") }
        switch (status >> 8) & 0xff {
        case 0: return true
        case 1: return false
        case let code: fatalError("the readers ended with status \(code) on this input (in a child; \(sanitizerExitCode): a sanitizer report above)")
        }
    }
}

private let asanOptions: StaticString = "exitcode=86"

/// AddressSanitizer reads its defaults from this function (documented in the sanitizer headers).
@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(asanOptions.utf8Start).assumingMemoryBound(to: CChar.self)
}
#endif
