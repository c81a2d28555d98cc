import ArgumentParser
import PortForwarding

struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Remove every mapping and the table itself.",
        discussion: """
        Deletes table inet nftfwd (or --table NAME) in one batch. Nothing else in the ruleset is \
        touched. Succeeds when there is no table. --save also empties the saved file \
        ('nftfwd save'), so the next boot restores nothing.

        Examples:
          nftfwd flush
          nftfwd flush --save
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    func run() throws {
        if try Persistence.change(global, saving, { try $0.flush() }) {
            Console.out("removed table inet \(global.table)\n")
        } else {
            Console.out("nothing to flush: table inet \(global.table) does not exist\n")
        }
    }
}
