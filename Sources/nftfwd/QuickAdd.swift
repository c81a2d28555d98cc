import PortForwarding

/// `nftfwd add HOST TARGET [options]` read without swift-argument-parser's parser, for the
/// plain forms runtimes and scripts call once per port. The library finds a command's
/// options by reflection and looks up protocol conformances and generic types on the way
/// (and parses twice more, looking for `--generate-completion-script`): a quarter of an
/// `add`'s CPU time (perf), more than building and committing the batch.
///
/// Only forms whose meaning is certain are read here: `--name value` (no `=`), the flags by
/// their names, two arguments; each single option at most once. Anything else (help,
/// `--version`, an unknown or repeated option, `--`, `-x` values, empty words, a value that
/// fails the options' own validation) returns nil, and the caller parses with the library,
/// which gives exactly the answer and message it always gave. `QuickAddTests` checks that
/// every form read here parses to the same command through the library.
enum QuickAdd {
    /// The request for `arguments` (without the program name), or nil to let the library parse.
    /// It creates no `AddCommand` or option group (`AddRequest` says why).
    static func parse<C: Collection<String>>(_ arguments: C) -> AddRequest? {
        guard arguments.first == "add" else { return nil }
        // Arrays, not a Set and a Dictionary: each new Hashable key type costs the runtime a
        // scan of every protocol conformance in the binary (about 250,000 instructions, a
        // twentieth of an add, callgrind).
        var positionals: [String] = []
        var values: [(name: String, value: String)] = []
        var allow: [String] = []
        var flags: [String] = []
        var words = arguments.dropFirst().makeIterator()
        while let word = words.next() {
            guard !word.isEmpty else { return nil }
            guard word.hasPrefix("-") else {
                // "help" is the library's word too (`nftfwd help add`): left to it.
                guard word != "help" else { return nil }
                positionals.append(word)
                continue
            }
            switch word {
            case "--save", "--enable-forwarding", "--verbose", "-v":
                let name = word == "-v" ? "--verbose" : word
                guard !flags.contains(name) else { return nil }
                flags.append(name)
            case "--proto", "--comment", "--proxy-protocol", "--table", "--allow":
                guard let value = words.next(), !value.isEmpty, !value.hasPrefix("-") else { return nil }
                if word == "--allow" { allow.append(value); continue }
                guard !values.contains(where: { $0.name == word }) else { return nil }
                values.append((word, value))
            default:
                return nil
            }
        }
        guard positionals.count == 2 else { return nil }
        func value(_ name: String) -> String? { values.first { $0.name == name }?.value }

        // The validations the library runs for the groups it fills (GlobalOptions: the table
        // name; SaveOptions: NFTFWD_SAVE; ForwardingOption and AddCommand have none), on the
        // plain values; a refusal is left to the library to word.
        let table = value("--table") ?? "nftfwd"
        guard (try? TableLayout.validate(tableName: table)) != nil, SaveOptions.settingProblem == nil else { return nil }
        var request = AddRequest(host: positionals[0], target: positionals[1])
        request.table = table
        request.verbose = flags.contains("--verbose")
        request.save = flags.contains("--save")
        request.enableForwarding = flags.contains("--enable-forwarding")
        request.proto = value("--proto") ?? "tcp"
        request.comment = value("--comment") ?? ""
        request.allow = allow
        request.proxyProtocol = value("--proxy-protocol")
        return request
    }
}
