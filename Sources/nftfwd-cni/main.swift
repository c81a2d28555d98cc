#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import PortForwarding

// nftfwd-cni: a CNI port-mapping plugin (a drop-in for portmap in a conflist) that publishes
// a container's runtimeConfig.portMappings in nftfwd's table. The runtime gives CNI_* in the
// environment and the network config on stdin; the answer (a result or an error object) goes
// to stdout, logs to stderr.

/// Every byte, or as many as the fd takes (a runtime that closed the pipe gets no more).
func writeAll(_ text: String, to fd: Int32) {
    try? Posix.writeAll(fd, text)
}

func log(_ text: String) { writeAll("nftfwd-cni: \(text)\n", to: 2) }

func readStdin() -> String {
    String(decoding: Posix.readAvailable(0), as: UTF8.self)
}

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
    writeAll(Help.text, to: 1)
    exit(0)
}
if let first = arguments.first {
    writeAll("nftfwd-cni: unexpected argument '\(first)': a CNI plugin reads CNI_* variables and stdin; see 'nftfwd-cni --help'\n", to: 2)
    exit(1)
}
if getenv("CNI_COMMAND") == nil && isatty(0) == 1 {
    writeAll(Help.text, to: 2)
    exit(1)
}

// The version errors answer in: the config's when it has one we know, else the newest.
var replyVersion = "1.0.0"
do {
    let environment = try Environment.read()
    let input = readStdin()
    if let version = NetworkConfig.version(of: input), NetworkConfig.supportedVersions.contains(version) { replyVersion = version }
    if environment.command == .version {
        let versions = NetworkConfig.supportedVersions.map { JSON.string($0) }
        writeAll(JSON.object([("cniVersion", .string(replyVersion)), ("supportedVersions", .array(versions))]).rendered() + "\n", to: 1)
        exit(0)
    }
    let plugin = Plugin(environment: environment, config: try NetworkConfig.parse(input), log: log)
    switch environment.command {
    case .add: writeAll(try plugin.add().rendered() + "\n", to: 1)
    case .del: try plugin.del()
    case .check: try plugin.check()
    case .version: break
    }
    exit(0)
} catch {
    log(error.description)
    writeAll(error.json(cniVersion: replyVersion).rendered() + "\n", to: 1)
    exit(1)
}
