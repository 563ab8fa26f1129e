import AggregatorCore
import ArgumentParser

/// `tandem-aggregator`: the unprivileged half of tandem.
@main
struct TandemAggregator: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-aggregator",
        abstract: "Decode, symbolize, measure and export the stack samples streamed by tandem-sampler.",
        discussion: """
            Runs as an unprivileged user. `serve` listens on a Unix socket for the sampler; `replay` runs \
            the same pipeline over capture files; `inspect` prints a capture's records; `validate` checks \
            a configuration file.
            """,
        version: TandemBuild.version,
        subcommands: [ServeCommand.self, ReplayCommand.self, InspectCommand.self, ValidateCommand.self]
    )

    /// `ParsableCommand.main()`, with SIGTERM and SIGINT blocked before anything can start a
    /// thread (see ``ShutdownSignals``): `serve` takes them with `sigwait`; the other
    /// commands unblock them again and end at once on Ctrl-C, as commands do.
    static func main() {
        ShutdownSignals.block()
        do {
            var command = try parseAsRoot()
            if !(command is ServeCommand) { ShutdownSignals.unblock() }
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
