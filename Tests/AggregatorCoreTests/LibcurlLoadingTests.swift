import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
        let log = FileHandle(forWritingAtPath: directory + "/serve.log")
        process.standardError = log
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
            try? log?.close()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning else { throw PythonPeerError(message: "serve exited with status \(process.terminationStatus) before listening: "
                + ((try? String(contentsOfFile: directory + "/serve.log", encoding: .utf8)) ?? "")) }
            guard ContinuousClock.now < deadline else { throw PythonPeerError(message: "serve did not listen on \(socket) within 60 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try maps(of: "\(process.processIdentifier)").contains("/libcurl.so")
    }

    /// `/proc/PID/maps` (PID may be `self`), read to its end: a /proc file has no size, and
    /// String(contentsOfFile:) stops at a page.
    static func maps(of pid: String) throws -> String {
        guard let file = FileHandle(forReadingAtPath: "/proc/\(pid)/maps") else {
            throw PythonPeerError(message: "cannot open /proc/\(pid)/maps")
        }
        defer { try? file.close() }
        return String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test("serve writing files does not map libcurl")
    func filesOnly() throws {
        #expect(try !Self.servesWithLibcurlMapped(configuration: nil))
    }

    /// The whole binary, not only the HTTP client: no part of it links libcrypto any more (file
    /// IDs are hashed by Symbolization's SHA256), so nothing maps it before libcurl does.
    @Test("the built aggregator links neither libcurl nor libcrypto")
    func linkedLibraries() throws {
        let output = try ProfilesPipelineTests.readelf(["-d", try VerbatimConfigurationTests.aggregatorBinary()])
        let needed = output.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(!needed.isEmpty, "readelf printed no NEEDED entries: \(output)")
        #expect(!needed.contains { $0.contains("libcurl") || $0.contains("libcrypto") || $0.contains("libssl") }, "\(needed)")
    }

    /// The seed document's metrics pipeline, to an otlphttp exporter at port 9 (discard) on
    /// the loopback: nothing listens there, and the exporter starts all the same.
    static let httpConfiguration = VerbatimConfigurationTests.metrics
        .replacingOccurrences(of: "exporters: [ elasticsearch ]", with: "exporters: [ otlphttp ]")
        + "\nexporters:\n  otlphttp:\n    endpoint: http://127.0.0.1:9\n"

    @Test("serve with an otlphttp exporter maps libcurl")
    func httpExporter() throws {
        #expect(try Self.servesWithLibcurlMapped(configuration: Self.httpConfiguration))
    }

    /// The file the dynamic linker loads for `libcurl.so.4`: loaded into this process, then
    /// found in its /proc/self/maps.
    static func libcurlPath() throws -> String {
        guard dlopen("libcurl.so.4", RTLD_NOW) != nil else {
            throw PythonPeerError(message: "libcurl.so.4 does not load in the test process: install libcurl4")
        }
        let lines = try maps(of: "self").split(separator: "\n")
        guard let line = lines.first(where: { $0.contains("/libcurl.so") }), let slash = line.firstIndex(of: "/"),
              let path = realpath(String(line[slash...]), nil) else {
            throw PythonPeerError(message: "libcurl.so.4 loaded, but /proc/self/maps names no file for it")
        }
        defer { free(path) }
        return String(cString: path)
    }

    /// A host without libcurl, as the built binary meets it: in a mount namespace of its own,
    /// an empty file is bound over the libcurl the dynamic linker finds, so that dlopen fails.
    @Test("without libcurl, an HTTP exporter is a configuration error that names dlopen's failure and the package",
          .enabled(if: getuid() == 0, "needs root: unshare --mount and mount --bind"))
    func withoutLibcurl() throws {
        let directory = try temporaryDirectory()
        try VerbatimConfigurationTests.write(Self.httpConfiguration, to: directory + "/config.yaml")
        _ = FileManager.default.createFile(atPath: directory + "/empty", contents: Data())
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             #"mount --bind "$1" "$2" && exec "$3" validate --config "$4""#, "sh",
                             directory + "/empty", try Self.libcurlPath(), try VerbatimConfigurationTests.aggregatorBinary(),
                             directory + "/config.yaml"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            + String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0, "validate passed without libcurl: \(text)")
        for part in ["configuration error at `exporters.otlphttp`", "cannot export over HTTP: dlopen(libcurl.so.4) failed",
                     "install libcurl 7.50 or later (Debian's package libcurl4)"] {
            #expect(text.contains(part), "\(part) is not in: \(text)")
        }
    }
}
