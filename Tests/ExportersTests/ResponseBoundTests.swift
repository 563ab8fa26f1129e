import Configuration
import Foundation
import Profiles
import Testing

@testable import Exporters

/// What an endpoint answers is read only up to a bound: a huge (or endless) body cannot
/// make the aggregator hold it.
@Suite("HTTP response bound")
struct ResponseBoundTests {
    /// Bigger than any bound by far; the stub generates it as it sends.
    static let hugeBody = 32 << 20

    @Test("a huge 200 body is cut at the bound and the transfer stopped", arguments: [200, 503])
    func cutAtBound(status: Int) throws {
        let (peer, port) = try startPeer("huge_body_stub.py", ["\(status)", "\(Self.hugeBody)"])
        defer { peer.stop() }
        let client = try HTTPClient()
        let response = try client.post(url: "http://127.0.0.1:\(port)/v1/metrics", headers: [], body: Array("{}".utf8),
                                       timeout: .seconds(60))
        #expect(response.status == status)
        #expect(response.body.count == HTTPClient.defaultMaximumResponseBytes)
        #expect(response.bodyTruncated)
        #expect(response.bodySummary.contains("the rest was not read"))

        // The handle stays usable; a smaller bound is honoured too.
        let second = try client.get(url: "http://127.0.0.1:\(port)/", timeout: .seconds(60), maximumResponseBytes: 1000)
        #expect(second.body.count == 1000)
        #expect(second.bodyTruncated)
    }

    @Test("the otlphttp exporter counts the request sent and logs the oversize answer once")
    func exporterSendsAndLogs() throws {
        let (peer, port) = try startPeer("huge_body_stub.py", ["200", "\(Self.hugeBody)"])
        defer { peer.stop() }
        let capture = LogCapture()
        let node = mapping(("endpoint", .scalar("http://127.0.0.1:\(port)")), ("retry_on_failure", fastRetry))
        let exporter = try ExporterFactory.make(id: "otlphttp/huge", node: node, logger: capture.logger())
        exporter.export(sampleBatch())
        exporter.shutdown(deadline: .now + .seconds(30))
        #expect(exporter.statistics == ExporterStatistics(sent: 1))
        let warnings = capture.messages.filter { $0.contains("oversize body") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("the rest was not read") == true)
    }
}
