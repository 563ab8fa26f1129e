import Foundation
import Testing
@testable import AggregatorCore
import StreamDecoding
import WireFormat

/// tandem-aggregator as `swift build` put it: next to this test bundle.
private func aggregatorBinary() throws -> String {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: bundle).deletingLastPathComponent()
    while directory.path != "/" {
        let candidate = directory.appendingPathComponent("tandem-aggregator").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw MissingBinary(description: "tandem-aggregator was not built next to the tests (\(bundle)); run `swift build --build-tests` first")
}

private struct MissingBinary: Error, CustomStringConvertible {
    var description: String
}

/// Runs the built tandem-aggregator with `arguments`; its exit status and standard error.
private func runAggregator(_ arguments: [String]) throws -> (status: Int32, standardError: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try aggregatorBinary())
    process.arguments = arguments
    let errors = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = errors
    try process.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}

@Suite struct IncompleteCaptureTests {
    @Test func theMessageNamesTheCauseTheByteAndTheFix() {
        let empty = IncompleteCapture(path: "/c", bytes: 0, error: WireFormatError(kind: .truncated, recordType: nil, offset: 0))
        #expect(empty?.description.hasPrefix("/c is empty (0 bytes): it holds no stream") == true)
        let header = IncompleteCapture(path: "/c", bytes: 7, error: WireFormatError(kind: .truncated, recordType: nil, offset: 0))
        #expect(header?.description.hasPrefix("/c is truncated at byte 7, inside the stream header") == true)
        let record = IncompleteCapture(path: "/c", bytes: 90, error: WireFormatError(kind: .truncated, recordType: 3, offset: 80))
        #expect(record?.description.hasPrefix("/c is truncated at byte 80 of 90: the sample that starts there is cut short") == true)
        for message in [empty, header, record].compactMap(\.?.description) {
            #expect(message.contains("record the capture again"))
        }
        // A malformed record is not an incomplete capture: it is reported as it is.
        #expect(IncompleteCapture(path: "/c", bytes: 9, error: WireFormatError(kind: .badMagic, recordType: nil, offset: 0)) == nil)
    }

    @Test func replayOfAnEmptyCaptureFailsAndSaysSo() throws {
        let path = try temporaryFile([])
        defer { unlink(path) }
        let (status, errors) = try runAggregator(["replay", path, "--log-level", "critical"])
        #expect(status != 0)
        #expect(errors.contains("\(path) is empty (0 bytes)"), "\(errors)")
    }

    @Test func replayOfATruncatedCaptureFailsAfterUsingWhatItHeld() throws {
        let whole = captureBytes()
        let bytes = captureBytes(truncatedBy: 2)
        let path = try temporaryFile(bytes)
        let folded = path + ".folded"
        defer {
            unlink(path)
            unlink(folded)
        }
        let (status, errors) = try runAggregator(["replay", path, "--folded", folded])
        #expect(status != 0)
        // The end-of-stream record, the last one, was cut.
        var decoder = StreamDecoder()
        decoder.feed(whole[...].dropLast(2))
        while (try? decoder.next()) != nil {}
        let offset = decoder.bytesConsumed
        #expect(errors.contains("\(path) is truncated at byte \(offset) of \(bytes.count): the endOfStream that starts there is cut short"),
                "\(errors)")
        // Every sample before the cut is in the outputs.
        let stacks = try String(contentsOfFile: folded, encoding: .utf8)
        let samples = stacks.split(separator: "\n").compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        #expect(samples == 3, "\(stacks)")
    }

    @Test func inspectOfAnEmptyOrTruncatedCaptureFailsAndSaysSo() throws {
        let empty = try temporaryFile([])
        let truncated = try temporaryFile(captureBytes(truncatedBy: 2))
        defer {
            unlink(empty)
            unlink(truncated)
        }
        let (emptyStatus, emptyErrors) = try runAggregator(["inspect", empty])
        #expect(emptyStatus != 0)
        #expect(emptyErrors.contains("\(empty) is empty (0 bytes)"), "\(emptyErrors)")
        let (truncatedStatus, truncatedErrors) = try runAggregator(["inspect", "--summary", truncated])
        #expect(truncatedStatus != 0)
        #expect(truncatedErrors.contains("\(truncated) is truncated at byte "), "\(truncatedErrors)")
    }
}
