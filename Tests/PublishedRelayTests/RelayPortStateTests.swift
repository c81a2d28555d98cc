import Testing
import PortForwarding
@testable import PublishedRelay

@Suite("The relay's port state, end to end")
struct RelayPortStateTests {
    @Test("each state prints as before and reads back from the status JSON as the same value")
    func roundTrip() throws {
        let states: [RelayPortState] = [.listening, .starting, .failed("bind: address already in use")]
        #expect(states.map(\.description) == ["listening", "error: starting", "error: bind: address already in use"])
        let status = RelayStatus(pid: 7, table: "nftfwd", problem: nil, ports: states.enumerated().map { i, state in
            .init(mapping: "m\(i)", listen: "127.0.0.1:\(8080 + i)/tcp", state: state, active: 0, total: 0)
        })
        let back = try #require(RelayStatus(json: status.json))
        #expect(back.ports.map(\.state) == states)
        #expect(back == status)
    }

    @Test("ls folds a mapping's ports: listening only when every port is, else the first that is not, with its socket")
    func summaries() {
        let status = RelayStatus(pid: 7, table: "nftfwd", problem: nil, ports: [
            .init(mapping: "a", listen: "127.0.0.1:1/tcp", state: .listening, active: 1, total: 2),
            .init(mapping: "a", listen: "127.0.0.1:2/tcp", state: .starting, active: 0, total: 0),
            .init(mapping: "b", listen: "127.0.0.1:3/tcp", state: .listening, active: 0, total: 1),
        ])
        #expect(status.summaries()["a"] == .init(state: "127.0.0.1:2/tcp error: starting", active: 1, total: 2))
        #expect(status.summaries()["b"] == .init(state: "listening", active: 0, total: 1))
    }
}
