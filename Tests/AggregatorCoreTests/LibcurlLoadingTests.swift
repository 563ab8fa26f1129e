import Foundation
import Testing

/// The aggregator maps libcurl, and the TLS, Kerberos and LDAP libraries it pulls in, only
/// once an HTTP exporter starts (CTandemCurl loads it with dlopen): `serve` writing files maps
/// none of it, `serve` with an `otlphttp` exporter maps it. Both are the built binary, as
/// deployed; the exporters start before the socket is listened on.
@Suite struct LibcurlLoadingTests {
    /// Whether a `serve` of the built aggregator, with `yaml` as its configuration (nil: the
    /// embedded one), has libcurl mapped once it listens.
    static func servesWithLibcurlMapped(configuration yaml: String?) throws -> Bool {
        let directory = try temporaryDirectory()
        let socket = directory + "/aggregator.sock"
        var arguments = ["serve", "--socket", socket, "--output-dir", directory + "/output", "--log-level", "error"]
        if let yaml {
            try VerbatimConfigurationTests.write(yaml, to: directory + "/config.yaml")
            arguments += ["--config", directory + "/config.yaml"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try VerbatimConfigurationTests.aggregatorBinary())
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: directory + "/serve.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/serve.log")
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning else { throw PythonPeerError(message: "serve exited with status \(process.terminationStatus) before listening: "
                + ((try? String(contentsOfFile: directory + "/serve.log", encoding: .utf8)) ?? "")) }
            guard ContinuousClock.now < deadline else { throw PythonPeerError(message: "serve did not listen on \(socket) within 60 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        // Read to the end: a /proc file has no size, and String(contentsOfFile:) stops at a page.
        guard let file = FileHandle(forReadingAtPath: "/proc/\(process.processIdentifier)/maps") else {
            throw PythonPeerError(message: "cannot open /proc/\(process.processIdentifier)/maps")
        }
        defer { try? file.close() }
        let maps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        return maps.contains("/libcurl.so")
    }

    @Test("serve writing files does not map libcurl")
    func filesOnly() throws {
        #expect(try !Self.servesWithLibcurlMapped(configuration: nil))
    }

    @Test("serve with an otlphttp exporter maps libcurl")
    func httpExporter() throws {
        // The seed document's metrics pipeline, to an otlphttp exporter at port 9 (discard) on the
        // loopback: nothing listens there, and the exporter starts all the same.
        let configuration = VerbatimConfigurationTests.metrics
            .replacingOccurrences(of: "exporters: [ elasticsearch ]", with: "exporters: [ otlphttp ]")
            + "\nexporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:9\n"
        #expect(try Self.servesWithLibcurlMapped(configuration: configuration))
    }
}
