import ArgumentParser
import PortForwarding
import SavedState

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Make the table hold exactly what FILE says, in one atomic batch.",
        discussion: """
        FILE (default /etc/nftfwd/mappings.json; for --table NAME, \
        /etc/nftfwd/mappings-NAME.json) is a file 'nftfwd save' wrote. This is 'nftfwd apply' \
        with the saved file as default: mappings already published stay untouched (their \
        counters keep counting), the others are added or removed; one bad entry and nothing \
        changes. contrib/systemd/nftfwd-restore.service runs it at boot, before the network \
        comes up.

        Examples:
          nftfwd restore
          nftfwd restore /srv/backup/nftfwd.json
          nftfwd diff && echo "nothing to restore"
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var saving: SaveOptions

    @Argument(help: ArgumentHelp("A file 'nftfwd save' wrote, or - for standard input (default: /etc/nftfwd/mappings.json).", valueName: "file"))
    var file: String?

    func run() throws {
        let path = file ?? StateFile.defaultPath(table: global.table)
        Console.out(try ApplyCommand.apply(path, global, saving, verb: "restored"))
    }
}
