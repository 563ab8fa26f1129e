import ArgumentParser

/// `tandem-aggregator inspect FILE`: prints a capture's records.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the records of a capture file, one per line, or a JSON summary."
    )

    @Argument(help: "A capture file (the bytes of one stream).")
    var file: String

    @Flag(help: "Print one JSON object of counts instead of the records.")
    var summary = false

    func run() throws {
        throw ValidationError("inspect is not implemented yet")
    }
}
