import Configuration
import Foundation
import Testing

/// A configuration file is input the aggregator does not control: its size and its
/// expansion through YAML aliases are bounded before anything is built from it.
@Suite("Configuration bounds")
struct ConfigBoundsTests {
    /// `levels` nested levels of ten aliases each: 10^levels leaves from a few hundred bytes.
    static func aliasBomb(levels: Int) -> String {
        var lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...levels {
            let previous = Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ")
            lines.append("l\(level): &l\(level) [\(previous)]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("a billion-laughs document is refused as an alias bomb", arguments: [6, 9])
    func billionLaughs(levels: Int) {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: Self.aliasBomb(levels: levels))
        }
        #expect(error?.problem.contains("expands to more than \(ConfigDocument.maximumNodes) nodes") == true)
        #expect(error?.fix?.contains("fewer or smaller aliases") == true)
    }

    @Test("a large scalar repeated through aliases is refused by its expanded size")
    func repeatedLargeScalar() {
        let big = String(repeating: "x", count: 512 << 10)
        let uses = Array(repeating: "*big", count: 64).joined(separator: ", ")
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigDocument(yaml: "big: &big \"${env:NOPE:-\(big)}\"\nuses: [\(uses)]\n", environment: [:])
        }
        #expect(error?.problem.contains("\(ConfigDocument.maximumExpandedBytes) bytes") == true)
    }

    @Test("a few aliases, as people use them for shared settings, are accepted")
    func ordinaryAliases() throws {
        let document = try ConfigDocument(yaml: """
            common: &common { timeout: 10s }
            exporters:
              otlphttp/a: *common
              otlphttp/b: *common
            """)
        #expect(document.root["exporters"]?["otlphttp/b"]?["timeout"] == .scalar("10s"))
    }

    @Test("an oversize configuration file is refused before it is parsed")
    func oversizeFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-oversize-\(getpid()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Valid YAML (one long comment), one byte past the bound.
        var text = "receivers: {}\n#"
        text += String(repeating: "x", count: ConfigDocument.maximumBytes + 1 - text.utf8.count)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try ConfigDocument(contentsOfFile: path) }
        #expect(error?.problem.contains("larger than \(ConfigDocument.maximumBytes) bytes") == true)

        // The same text at the bound is read.
        try String(text.dropLast()).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try ConfigDocument(contentsOfFile: path).root.keys == ["receivers"])
    }

    @Test("a FIFO given as configuration is refused without blocking")
    func fifo() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-fifo-\(getpid()).yaml").path
        unlink(path)
        try #require(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        // No writer ever opens the FIFO: a blocking open would never return.
        let error = #expect(throws: ConfigurationError.self) { try ConfigDocument(contentsOfFile: path) }
        #expect(error?.problem.contains("is not a regular file") == true)
    }
}
