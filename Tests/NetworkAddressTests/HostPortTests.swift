import Testing
import NetworkAddress

@Suite("HostPort: the one strict [ADDR:]PORT grammar")
struct HostPortTests {
    typealias E = HostPort.SyntaxError

    func split(_ text: String) -> Result<String, E> {
        HostPort.split(text).map { "\($0.address.map(\.description) ?? "-") \($0.port)" }
    }

    @Test("accepted forms")
    func accepted() {
        #expect(split("8080") == .success("- 8080"))
        #expect(split("8000-8099") == .success("- 8000-8099"))
        #expect(split("10.0.0.2:80") == .success("10.0.0.2 80"))
        #expect(split("[fd00::1]:80") == .success("fd00::1 80"))
    }

    @Test("each refusal names its part")
    func refused() {
        #expect(split("[fd00::1:80") == .failure(.missingBracket))
        #expect(split("[fe80::1%eth0]:80") == .failure(.notIPv6("fe80::1%eth0", hasZone: true)))
        #expect(split("[1.2.3.4]:80") == .failure(.notIPv6("1.2.3.4", hasZone: false)))
        #expect(split("[fd00::1]") == .failure(.noPort(afterIPv6: "fd00::1")))
        #expect(split("[fd00::1]:") == .failure(.noPort(afterIPv6: "fd00::1")))
        #expect(split("[fd00::1]80") == .failure(.noPort(afterIPv6: "fd00::1")))
        #expect(split("fd00::1:80") == .failure(.unbracketedIPv6))
        #expect(split(":80") == .failure(.noAddress))
        #expect(split("01.2.3.4:80") == .failure(.notIPv4("01.2.3.4")))
    }

    @Test("a single port: 1-65535, decimal digits, no sign or leading zero")
    func port() {
        #expect(HostPort.port("1") == 1 && HostPort.port("65535") == 65535)
        for bad in ["", "0", "65536", "08080", "+80", "-1", "8080 ", "0x50", "100000"] {
            #expect(HostPort.port(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test("SocketAddress(parsing:) is the grammar with one port, and prints back")
    func socketAddress() {
        #expect(SocketAddress(parsing: "127.0.0.1:9420")?.description == "127.0.0.1:9420")
        #expect(SocketAddress(parsing: "[::1]:9420")?.description == "[::1]:9420")
        for bad in ["9420", "::1:9420", "127.0.0.1:0", "127.0.0.1:9420-9421", "[::1]", "localhost:80"] {
            #expect(SocketAddress(parsing: bad) == nil, "\(bad)")
        }
    }
}
