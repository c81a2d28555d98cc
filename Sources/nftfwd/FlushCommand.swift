import ArgumentParser
import PortForwarding

struct FlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Remove every mapping and the table itself.",
        discussion: """
        Deletes table inet nftfwd (or --table NAME) in one batch. Nothing else in the ruleset is \
        touched. Succeeds when there is no table.

        Example:
          nftfwd flush
        """
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        if try global.publisher().flush() {
            Console.out("removed table inet \(global.table)\n")
        } else {
            Console.out("nothing to flush: table inet \(global.table) does not exist\n")
        }
    }
}
