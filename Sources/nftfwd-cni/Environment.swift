#if canImport(Glibc)
import Glibc
#endif

/// The CNI_* variables a runtime sets, validated as the spec asks.
struct Environment {
    enum Command: String { case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION" }

    var command: Command
    var containerID: String
    /// Empty only for DEL, where the spec lets the runtime leave it out (the netns may be gone).
    var netns: String
    var ifname: String

    static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    static func read() throws(CNIError) -> Environment {
        guard let text = variable("CNI_COMMAND"), !text.isEmpty else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "required env variables [CNI_COMMAND] missing",
                           details: "nftfwd-cni is a CNI plugin: a container runtime runs it (see 'nftfwd-cni --help')")
        }
        guard let command = Command(rawValue: text) else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "unknown CNI_COMMAND \(text)", details: "expected ADD, DEL, CHECK or VERSION")
        }
        if command == .version { return Environment(command: command, containerID: "", netns: "", ifname: "") }
        // CNI_PATH is required of runtimes, but this plugin delegates to no other plugin.
        var required = ["CNI_CONTAINERID", "CNI_IFNAME"]
        if command != .del { required.append("CNI_NETNS") }
        let missing = required.filter { (variable($0) ?? "").isEmpty }
        if !missing.isEmpty {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "required env variables [\(missing.joined(separator: ","))] missing")
        }
        let environment = Environment(command: command, containerID: variable("CNI_CONTAINERID")!,
                                      netns: variable("CNI_NETNS") ?? "", ifname: variable("CNI_IFNAME")!)
        try Owner.validate(containerID: environment.containerID, ifname: environment.ifname)
        return environment
    }
}
