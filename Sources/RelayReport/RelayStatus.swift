import PortForwarding

/// What a running relay reports about itself: one entry per port it should serve.
public struct RelayStatus: Sendable, Equatable {
    public struct Port: Sendable, Equatable {
        public var mapping: String
        public var listen: String
        /// Listening, or why not while the port cannot be served (it is retried).
        public var state: RelayPortState
        public var active: Int
        public var total: Int
        /// Clients the allow-list refused (TCP connections, UDP datagrams); 0 from a relay
        /// older than the field.
        public var refused: Int = 0

        package init(mapping: String, listen: String, state: RelayPortState, active: Int, total: Int, refused: Int = 0) {
            self.mapping = mapping; self.listen = listen; self.state = state; self.active = active; self.total = total
            self.refused = refused
        }
    }

    public var pid: Int
    public var table: String
    /// Set while the table cannot be read (the relay keeps serving what it had).
    public var problem: String?
    public var ports: [Port]
    /// The saved file the relay keeps the table equal to (`--restore-from`), absolute.
    public var restoreFrom: String?

    /// Per mapping label: the ports' states folded into one word, and summed counters.
    public struct Summary: Sendable, Equatable {
        public var state: String
        public var active: Int
        public var total: Int
        public var refused: Int = 0
        public init(state: String, active: Int, total: Int, refused: Int = 0) {
            self.state = state; self.active = active; self.total = total; self.refused = refused
        }
    }

    public func summaries() -> [String: Summary] {
        var out: [String: Summary] = [:]
        for port in ports {
            var s = out[port.mapping] ?? Summary(state: "listening", active: 0, total: 0)
            if !port.state.isListening && s.state == "listening" { s.state = "\(port.listen) \(port.state)" }
            s.active += port.active
            s.total += port.total
            s.refused += port.refused
            out[port.mapping] = s
        }
        return out
    }

    // MARK: - JSON

    public var json: JSON {
        .object([
            ("pid", .number(Double(pid))),
            ("table", .string(table)),
            ("problem", problem.map { .string($0) } ?? .null),
            ("ports", .array(ports.map { p in
                .object([("mapping", .string(p.mapping)), ("listen", .string(p.listen)), ("state", .string(p.state.description)),
                         ("active", .number(Double(p.active))), ("total", .number(Double(p.total))), ("refused", .number(Double(p.refused)))])
            })),
            ("restore-from", restoreFrom.map { .string($0) } ?? .null),
        ])
    }

    public init(pid: Int, table: String, problem: String?, ports: [Port], restoreFrom: String? = nil) {
        self.pid = pid; self.table = table; self.problem = problem; self.ports = ports; self.restoreFrom = restoreFrom
    }

    public init?(json: JSON) {
        guard case .number(let pid)? = json["pid"], case .string(let table)? = json["table"],
              case .array(let items)? = json["ports"] else { return nil }
        var ports: [Port] = []
        for item in items {
            guard case .string(let mapping)? = item["mapping"], case .string(let listen)? = item["listen"],
                  case .string(let state)? = item["state"], case .number(let active)? = item["active"],
                  case .number(let total)? = item["total"] else { return nil }
            var refused = 0
            if case .number(let n)? = item["refused"] { refused = Int(n) }
            ports.append(Port(mapping: mapping, listen: listen, state: RelayPortState(state), active: Int(active), total: Int(total), refused: refused))
        }
        var problem: String?
        if case .string(let p)? = json["problem"] { problem = p }
        var restoreFrom: String?
        if case .string(let p)? = json["restore-from"] { restoreFrom = p }
        self.init(pid: Int(pid), table: table, problem: problem, ports: ports, restoreFrom: restoreFrom)
    }
}
