import ArgumentParser
import Testing
@testable import nftfwd

/// `QuickAdd` reads the plain forms of `nftfwd add` without the library's parser. Whatever it
/// reads must be exactly what the library makes of the same words; whatever it cannot be sure
/// of it must leave to the library (nil), so help, errors and their messages stay the library's.
@Suite("QuickAdd: the plain forms of add, as the library parses them")
struct QuickAddTests {
    /// What a parsed `add` holds, field by field.
    struct Fields: Equatable, CustomStringConvertible {
        var host, target, proto, comment: String
        var allow: [String]
        var proxyProtocol: String?
        var table: String
        var verbose, save, enableForwarding: Bool
        init(_ c: AddCommand) {
            host = c.host; target = c.target; proto = c.proto; comment = c.comment; allow = c.allow
            proxyProtocol = c.proxyProtocol; table = c.global.table; verbose = c.global.verbose
            save = c.saving.save; enableForwarding = c.forwarding.enableForwarding
        }
        init(_ r: AddRequest) {
            host = r.host; target = r.target; proto = r.proto; comment = r.comment; allow = r.allow
            proxyProtocol = r.proxyProtocol; table = r.table; verbose = r.verbose
            save = r.save; enableForwarding = r.enableForwarding
        }
        var description: String { "\(host) \(target) \(proto) '\(comment)' \(allow) \(proxyProtocol ?? "-") \(table) v=\(verbose) s=\(save) f=\(enableForwarding)" }
    }

    static func library(_ words: [String]) -> Fields? {
        (try? Nftfwd.parseAsRoot(words) as? AddCommand).map(Fields.init)
    }

    static let read: [[String]] = [
        ["add", "8080", "10.0.0.2:80"],
        ["add", "8080", "10.0.0.2:80", "--proto", "udp"],
        ["add", "--proto", "sctp", "8080", "10.0.0.2:80"],
        ["add", "192.0.2.10:8443", "10.0.0.2:443", "--comment", "web tls"],
        ["add", "8000-8099", "10.0.0.2:9000-9099", "--save"],
        ["add", "[::]:8080", "[fd00::2]:80", "-v", "--table", "other"],
        ["add", "2222", "10.0.0.2:22", "--allow", "192.168.1.0/24", "--allow", "10.8.0.0/16"],
        ["add", "2525", "10.0.0.5:25", "--proxy-protocol", "v2", "--verbose", "--enable-forwarding"],
        ["add", "--table", "t", "--save", "8080", "--comment", "a # b", "10.0.0.2:80", "--allow", "10.0.0.0/8"],
        // Values the domain refuses are still read: the refusal is run()'s, in both paths.
        ["add", "08080", "10.0.0.2:80", "--proto", "icmp", "--proxy-protocol", "v9"],
    ]

    @Test("reads the plain forms as the library does", arguments: read)
    func sameCommand(words: [String]) throws {
        let quick = try #require(QuickAdd.parse(words), "QuickAdd left \(words) to the library")
        let library = try #require(Self.library(words), "the library refused \(words)")
        #expect(Fields(quick) == library)
        // And the library's command runs what QuickAdd's does.
        let parsed = try #require(try? Nftfwd.parseAsRoot(words) as? AddCommand)
        #expect(AddRequest(parsed) == quick)
    }

    static let left: [[String]] = [
        ["add"], ["add", "8080"], ["add", "8080", "10.0.0.2:80", "extra"],
        ["add", "--help"], ["add", "-h"], ["add", "8080", "10.0.0.2:80", "--version"],
        ["add", "8080", "10.0.0.2:80", "--proto=udp"],
        ["add", "8080", "10.0.0.2:80", "--proto", "udp", "--proto", "tcp"],
        ["add", "8080", "10.0.0.2:80", "--save", "--save"],
        ["add", "8080", "10.0.0.2:80", "--proto"],
        ["add", "8080", "10.0.0.2:80", "--comment", "-x"],
        ["add", "8080", "10.0.0.2:80", "--comment", ""],
        ["add", "", "10.0.0.2:80"],
        ["add", "--", "8080", "10.0.0.2:80"],
        ["add", "-vx", "8080", "10.0.0.2:80"],
        ["add", "8080", "10.0.0.2:80", "--unknown"],
        ["add", "help", "8080"],
        ["add", "8080", "10.0.0.2:80", "--table", "bad name"],
        ["-v", "add", "8080", "10.0.0.2:80"],
        ["ls"], [],
        ["add", "8080", "10.0.0.2:80", "--generate-completion-script", "bash"],
    ]

    @Test("leaves everything else to the library", arguments: left)
    func leftToLibrary(words: [String]) {
        #expect(QuickAdd.parse(words) == nil)
    }

    /// A new option of `add` (or of a group it holds) must be taught to QuickAdd: these counts
    /// are the properties it sets.
    @Test("knows every option of add")
    func everyOption() {
        #expect(Mirror(reflecting: AddCommand()).children.count == 9)
        #expect(Mirror(reflecting: GlobalOptions()).children.count == 2)
        #expect(Mirror(reflecting: SaveOptions()).children.count == 1)
        #expect(Mirror(reflecting: ForwardingOption()).children.count == 1)
    }
}
