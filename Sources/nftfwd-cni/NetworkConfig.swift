import PortForwarding
import NetworkAddress

/// The network configuration a runtime gives on stdin, as far as this plugin reads it.
///
/// ```
/// { "cniVersion": "1.0.0", "name": "mynet", "type": "nftfwd-cni",
///   "capabilities": { "portMappings": true },
///   "table": "nftfwd",                      optional: the nftfwd table to publish in
///   "snat": true,                           optional, portmap's: hairpin masquerade (always on)
///   "masquerade": true,                     optional: masquerade the container's subnets
///   "masqueradeSubnets": ["10.88.0.0/16"],  optional: masquerade these instead
///   "masqueradeOutNot": "cni0",             optional: not what leaves through this interface
///   "runtimeConfig": { "portMappings": [ { "hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "" } ] },
///   "prevResult": { ... } }
/// ```
struct NetworkConfig {
    static let supportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]

    var cniVersion: String
    var name: String
    var table = "nftfwd"
    var snat = true
    var masquerade = false
    var masqueradeSubnets: [Subnet] = []
    var masqueradeOutNot: String?
    var portMappings: [PortMapping] = []
    var prevResult: JSON?

    struct PortMapping: Equatable {
        var hostPort: UInt16
        var containerPort: UInt16
        var proto: Proto
        var hostIP: IPAddress?
    }

    static func invalid(_ msg: String, _ details: String = "") -> CNIError {
        CNIError(code: CNIError.invalidNetworkConfig, msg: msg, details: details)
    }

    /// The cniVersion of a config, if it has a readable one (for VERSION and error replies).
    static func version(of text: String) -> String? {
        guard let json = try? JSON.parse(text), case .string(let v)? = json["cniVersion"] else { return nil }
        return v
    }

    static func parse(_ text: String) throws(CNIError) -> NetworkConfig {
        let json: JSON
        do { json = try JSON.parse(text) } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "the network configuration on stdin is not JSON", details: "\(error)")
        }
        guard case .object = json else { throw invalid("the network configuration on stdin is not a JSON object") }
        guard case .string(let version)? = json["cniVersion"] else { throw invalid("the network configuration has no cniVersion") }
        guard supportedVersions.contains(version) else {
            throw CNIError(code: CNIError.incompatibleVersion, msg: "incompatible CNI versions",
                           details: "config is \"\(version)\", plugin supports \(supportedVersions)")
        }
        var config = NetworkConfig(cniVersion: version, name: "")
        if case .string(let name)? = json["name"] { config.name = name }
        if let table = json["table"] {
            guard case .string(let name) = table else { throw invalid("\"table\" must be a string") }
            do { try TableLayout.validate(tableName: name) } catch { throw invalid("\"table\": \(error)") }
            config.table = name
        }
        config.snat = try bool(json, "snat") ?? true
        config.masquerade = try bool(json, "masquerade") ?? false
        if let list = json["masqueradeSubnets"] {
            guard case .array(let items) = list else { throw invalid("\"masqueradeSubnets\" must be an array of subnets") }
            for item in items {
                guard case .string(let text) = item else { throw invalid("\"masqueradeSubnets\" must hold strings like \"10.88.0.0/16\"") }
                do { config.masqueradeSubnets.append(try Subnet.parse(text)) } catch { throw invalid("\"masqueradeSubnets\": \(error)") }
            }
        }
        if let outNot = json["masqueradeOutNot"] {
            guard case .string(let name) = outNot, (1...15).contains(name.utf8.count) else {
                throw invalid("\"masqueradeOutNot\" must be an interface name (1-15 characters)")
            }
            config.masqueradeOutNot = name
        }
        if let runtime = json["runtimeConfig"], let mappings = runtime["portMappings"] {
            guard case .array(let items) = mappings else { throw invalid("runtimeConfig.portMappings must be an array") }
            config.portMappings = try items.enumerated().map { (i, item) throws(CNIError) in try portMapping(item, index: i) }
        }
        if let prev = json["prevResult"], prev != .null {
            guard case .object = prev else { throw invalid("prevResult must be an object") }
            config.prevResult = prev
        }
        return config
    }

    static func bool(_ json: JSON, _ key: String) throws(CNIError) -> Bool? {
        guard let value = json[key] else { return nil }
        guard case .bool(let b) = value else { throw invalid("\"\(key)\" must be true or false") }
        return b
    }

    static func portMapping(_ item: JSON, index: Int) throws(CNIError) -> PortMapping {
        let what = "runtimeConfig.portMappings[\(index)]"
        func port(_ key: String) throws(CNIError) -> UInt16 {
            guard case .number(let n)? = item[key], n == n.rounded(), n >= 1, n <= 65535 else {
                throw invalid("\(what): \(key) must be a port number 1-65535")
            }
            return UInt16(n)
        }
        let hostPort = try port("hostPort"), containerPort = try port("containerPort")
        var proto = Proto.tcp
        if let value = item["protocol"] {
            guard case .string(let text) = value else { throw invalid("\(what): protocol must be a string") }
            if !text.isEmpty {
                do { proto = try Proto.parse(text) } catch { throw invalid("\(what): \(error)") }
            }
        }
        var hostIP: IPAddress?
        if let value = item["hostIP"] {
            guard case .string(let text) = value else { throw invalid("\(what): hostIP must be a string") }
            if !text.isEmpty {
                guard let address = IPAddress.parse(text) else { throw invalid("\(what): hostIP \"\(text)\" is not an IP address") }
                hostIP = address
            }
        }
        return PortMapping(hostPort: hostPort, containerPort: containerPort, proto: proto, hostIP: hostIP)
    }
}
