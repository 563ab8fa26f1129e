import AggregatorCore
import ArgumentParser
import SystemCalls
import WireFormat

#if canImport(Glibc)
import Glibc
#endif

/// `tandem-aggregator inspect FILE`: prints a capture's records.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the records of a capture file, one per line, or a JSON summary.",
        discussion: """
            Each line starts with the record's byte offset in the stream. With --summary, prints one JSON \
            object: bytes, records by type, samples, bytes per sample, processes (distinct pids of process \
            records), mappings (entries over all mapping records), threads, distinct stacks, drops (from the \
            last statistics record, total and by reason) and the host facts of the header. A malformed \
            capture prints what could be decoded, then the error (record type and byte offset) on stderr, \
            and exits with status 1.
            """
    )

    @Argument(help: "A capture file (the bytes of one stream).")
    var file: String

    @Flag(help: "Print one JSON object of counts instead of the records.")
    var summary = false

    func run() throws {
        var counts = CaptureSummary()
        var failure: (any Error)?
        do {
            try CaptureInspection.decode(path: file) { record, offset in
                if summary {
                    counts.add(record)
                } else {
                    print("\(offset) \(CaptureInspection.line(for: record))")
                }
            }
        } catch {
            failure = error
        }
        if summary {
            if let failure { counts.error = "\(failure)" }
            counts.bytes = try fileSize()
            print(counts.json)
        }
        if let failure {
            fflush(nil)
            var standardError = StandardError()
            if let incomplete = IncompleteCapture(path: file, bytes: (try? fileSize()) ?? 0, error: failure) {
                print("tandem-aggregator inspect: \(incomplete)", to: &standardError)
            } else {
                print("tandem-aggregator inspect: \(file): \(failure)", to: &standardError)
            }
            throw ExitCode(1)
        }
    }

    private func fileSize() throws -> Int {
        Int(try PathStatus.of(file).st_size)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
