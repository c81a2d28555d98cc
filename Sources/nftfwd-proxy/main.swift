#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import NFTRelay
import ProxyCommandLine

// nftfwd-proxy: a drop-in replacement for docker-proxy (dockerd --userland-proxy-path).
// One listener (host-ip:host-port, or the socket dockerd passes as fd 4 with -use-listen-fd)
// relayed to container-ip:container-port by an NFTRelay engine running on this thread.
// SIGINT/SIGTERM end it with status 0. With NFTFWD_PROXY_PUBLISH=1 it also publishes the
// mapping in nftfwd's table for the kernel to DNAT, and removes it at exit (KernelPublishing).

// Before anything opens an fd: is fd 3 (status pipe) there, and fd 4 (-use-listen-fd)?
nonisolated(unsafe) var statusPipe = StatusPipe.detect()
let listenFDWasOpen = Posix.isOpen(4)

/// Writes to stderr (no Foundation, no buffering surprises).
func printError(_ text: String) {
    try? Posix.writeAll(2, text + "\n")
}

/// Reports a start-up failure the way docker-proxy does, then exits 1.
func fail(_ message: String) -> Never {
    statusPipe.reportFailure(message)
    printError(message)
    exit(1)
}

// Block the stop signals before anything else, so that a signal arriving during start-up is
// queued for the loop's signalfd instead of killing us with a non-zero status.
let stopSignals = [SIGINT, SIGTERM]
RelayEngine.blockSignals(stopSignals)

let parsed: ProxyOptions.Parsed
do {
    parsed = try ProxyOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    switch error {
    case .usage(let text):
        printError(text)
        printError(ProxyOptions.usage)
        statusPipe.reportFailure(text)
        exit(2)
    case .invalid(let text):
        fail(text)
    }
}

switch parsed {
case .version:
    print(ProxyOptions.version)
    exit(0)
case .help:
    printError(ProxyOptions.usage)
    exit(0)
case .run(let spec):
    if let fd = spec.preopenedFD, fd != 4 || !listenFDWasOpen {
        fail("-use-listen-fd: fd \(fd) is not open")
    }
    let engine: RelayEngine
    do {
        // Two loops when there are two cores or more: short connections and parallel
        // streams then use both (measured: +15-20 % connections/s on 2 cores).
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        // Events (out of ports or fds towards the container) come once per episode: stderr,
        // like the proxy's other messages.
        engine = try RelayEngine(loops: cpus >= 2 ? 2 : 1, events: { printError("nftfwd-proxy: \(ProxyEvents.describe($0))") })
        try engine.addListener(spec)
    } catch {
        fail("\(error)")
    }
    // NFTFWD_PROXY_PUBLISH=1: the mapping in nftfwd's table too (KernelPublishing); unset,
    // nothing here touches nftables.
    var published: KernelPublishing?
    if KernelPublishing.requested {
        do {
            published = try KernelPublishing.start(proto: spec.proto.rawValue, host: spec.listen.ip, hostPort: spec.listen.port,
                                                   target: spec.target.ip, containerPort: spec.target.port)
        } catch {
            fail("\(KernelPublishing.setting)=1: cannot publish \(spec.listen)/\(spec.proto.rawValue) -> \(spec.target) in nftfwd's table: \(error)")
        }
    }
    statusPipe.reportReady()
    var status: Int32 = 0
    do {
        _ = try engine.run(stoppingOn: stopSignals)
    } catch {
        printError("nftfwd-proxy: \(error)")
        status = 1
    }
    if let failure = published?.stop() {
        printError("nftfwd-proxy: removing \(spec.listen)/\(spec.proto.rawValue) from nftfwd's table failed: \(failure)")
        status = 1
    }
    exit(status)
}
