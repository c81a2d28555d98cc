import ArgumentParser
import PortForwarding
import SavedState

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Make the table hold exactly the mappings (and masquerade rules) in FILE, in one atomic batch.",
        discussion: """
        FILE is the JSON that 'nftfwd ls --json' prints ('-' reads standard input): \
        {"mappings": [{"proto": "tcp", "host": "8080", "target": "10.0.0.2:80", "comment": "web"}], \
        "masquerade": [{"subnet": "10.88.0.0/24", "out-not": "br0"}]}. What is already in the \
        table stays untouched (counters keep counting), the rest is added or removed. Without \
        "masquerade" (or as a bare array of mappings) the masquerade rules are left as they are. \
        One bad entry and nothing changes. --save also writes the result to the saved file ('nftfwd save').

        Examples:
          nftfwd ls --json > published.json; nftfwd apply published.json
          echo '[{"host": "8080", "target": "10.0.0.2:80"}]' | nftfwd apply -
          echo '{"mappings": [], "masquerade": []}' | nftfwd apply -   remove everything, keep the table
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("JSON file, or - for standard input.", valueName: "file"))
    var file: String

    @OptionGroup var forwarding: ForwardingOption

    func run() throws {
        let document = try StateDocument.parse(try StateFile.read(file))
        Console.out(try ApplyCommand.apply(document, global, saving, restoring: file, verb: "applied"))
        try forwarding.apply(to: document.mappings, table: global.table, command: "apply")
    }

    /// Reads `path` (a state file), makes the table hold exactly that, and says what changed.
    /// `apply` and `restore` are this with different defaults.
    static func apply(_ path: String, _ global: GlobalOptions, _ saving: SaveOptions, verb: String) throws -> String {
        try apply(StateDocument.parse(try StateFile.read(path)), global, saving, restoring: path, verb: verb)
    }

    /// Makes the table hold exactly `document` (honouring --save) and says what changed;
    /// `restoring` is the file it came from, if any (see `Persistence.change`).
    static func apply(_ document: StateDocument, _ global: GlobalOptions, _ saving: SaveOptions,
                      restoring: String? = nil, verb: String) throws -> String {
        let summary = try Persistence.change(global, saving, restoring: restoring) { try $0.keepingApplyRecords(table: global.table).apply(document) }
        var line = "\(verb) \(document.mappings.count) mapping(s): \(summary.added) added, \(summary.removed) removed, \(summary.unchanged) unchanged"
        if let rules = document.masquerade {
            line += "; \(rules.count) masquerade rule(s): \(summary.masqueradeAdded) added, \(summary.masqueradeRemoved) removed"
        }
        return line + "\n"
    }
}
