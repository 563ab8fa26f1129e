import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

@Suite("Retry-After beyond max_elapsed_time")
struct RetryAfterEpisodeTests {
    @Test("many requests dropped in one long-Retry-After episode: counted, and one log line with their number")
    func oneLinePerEpisode() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let dump = directory.appendingPathComponent("bulk.jsonl")
        // Five whole-request 429s asking for an hour (beyond the default 300s), then success.
        let refusals = Array(repeating: #"{"status": 429, "retry_after": "3600"}"#, count: 5)
        let (stub, port) = try startPeer("es_bulk_stub.py", [dump.path, "[\(refusals.joined(separator: ","))]"])
        defer { stub.stop() }
        let capture = LogCapture()
        let node = mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")), ("retry_on_failure", fastRetry))
        let exporter = try ExporterFactory.make(id: "elasticsearch", node: node, logger: capture.logger())
        for _ in 0..<6 { exporter.export(sampleBatch()) }
        exporter.shutdown(deadline: .now + .seconds(30))

        // sampleBatch() makes 4 documents: five requests dropped, the sixth sent.
        #expect(exporter.statistics == ExporterStatistics(sent: 4, dropped: 20))
        #expect(try readJSONLines(dump).count == 6)
        let dropLines = capture.messages.filter { $0.contains("dropp") }
        #expect(dropLines.count == 2, "one line when the episode starts, one with its count: \(dropLines)")
        #expect(dropLines.first?.contains("longer than retry_on_failure.max_elapsed_time") == true)
        #expect(dropLines.last?.contains("dropped 5 requests") == true)
        #expect(dropLines.last?.contains("items=20") == true)
    }
}
