import ArgumentParser
import PortForwarding
import SavedState

struct SaveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Write the published mappings to FILE, atomically, for 'nftfwd restore'.",
        discussion: """
        FILE receives what 'nftfwd ls --json' prints (without the relay's view). It is written \
        to a temporary file in the same directory, fsynced and renamed over the old one, and \
        the directory is fsynced: after a crash FILE is the old state or the new one, never a \
        part, and a failed write leaves the old file as it was. The directory is created \
        (mode 0755) when missing; FILE gets mode 0644.

        FILE defaults to /etc/nftfwd/mappings.json (for --table NAME: \
        /etc/nftfwd/mappings-NAME.json), which contrib/systemd/nftfwd-restore.service \
        applies at boot. To save after every change, give add, rm, apply and flush --save, or \
        set NFTFWD_SAVE=1 (or NFTFWD_SAVE=/path/to/file).

        Examples:
          nftfwd save                             to /etc/nftfwd/mappings.json
          nftfwd save /srv/backup/nftfwd.json
          nftfwd add 8080 10.0.0.2:80 --save      publish and save in one step
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Where to write (default: /etc/nftfwd/mappings.json).", valueName: "file"))
    var file: String?

    func validate() throws {
        if file == "-" { throw ValidationError("save writes a file; 'nftfwd ls --json' prints the same to standard output") }
    }

    func run() throws {
        let path = file ?? StateFile.defaultPath(table: global.table)
        let lock = try Persistence.lock(of: path)
        let count = try Persistence.save(try global.publisher(), to: path)
        withExtendedLifetime(lock) {}
        Console.out("saved \(count) mapping(s) of table inet \(global.table) to \(path)\n")
    }
}
