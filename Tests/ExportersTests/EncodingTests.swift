import Compression
import Foundation
import Profiles
import ProtobufWire
import Testing

@testable import Exporters

/// Runs `otlp_peer.py MODE` with `input` on stdin and parses its JSON output.
private func decodeWithOfficialClasses(_ mode: String, _ input: [UInt8]) throws -> [String: Any] {
    try requirePython(module: "opentelemetry.proto", install: "pip install opentelemetry-proto")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", peersDirectory.appendingPathComponent("otlp_peer.py").path, mode]
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    stdin.fileHandleForWriting.write(Data(input))
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    let errors = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw PeerError.failed("otlp_peer.py \(mode) failed: \(String(decoding: errors, as: UTF8.self))")
    }
    return try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
}

/// The metrics of the first scope, by name, from a decoded request.
private func metricsByName(_ request: [String: Any]) throws -> [String: [String: Any]] {
    let resourceMetrics = try #require(request["resourceMetrics"] as? [[String: Any]])
    let scopeMetrics = try #require(resourceMetrics.first?["scopeMetrics"] as? [[String: Any]])
    let metrics = try #require(scopeMetrics.first?["metrics"] as? [[String: Any]])
    return Dictionary(uniqueKeysWithValues: metrics.map { ($0["name"] as? String ?? "", $0) })
}

private func attributes(_ list: Any?) -> [String: String] {
    var result: [String: String] = [:]
    for entry in list as? [[String: Any]] ?? [] {
        let value = entry["value"] as? [String: Any] ?? [:]
        result[entry["key"] as? String ?? ""] = (value["stringValue"] as? String) ?? (value["intValue"] as? String)
    }
    return result
}

@Suite("OTLP encodings")
struct EncodingTests {
    @Test("protobuf parses with the official opentelemetry-proto classes, field by field")
    func protobufThroughOfficialClasses() throws {
        let request = try decodeWithOfficialClasses("decode-proto", OTLPProtobuf.encode(sampleBatch()))
        let resource = try #require((request["resourceMetrics"] as? [[String: Any]])?.first?["resource"] as? [String: Any])
        let resourceAttributes = attributes(resource["attributes"])
        #expect(resourceAttributes["host.name"] == "tandem-test")
        #expect(resourceAttributes["process.pid"] == "4242")
        #expect(resourceAttributes["process.executable.path"]?.hasSuffix("/app") == true)
        let scope = try #require(((request["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?
            .first?["scope"] as? [String: Any])
        #expect(scope["name"] as? String == connectorScope)
        #expect(scope["version"] as? String == "0.1.0")

        let metrics = try metricsByName(request)
        #expect(Set(metrics.keys) == ["samples.user.count", "samples.native.count", "samples.frame_type"])
        let user = try #require(metrics["samples.user.count"]?["sum"] as? [String: Any])
        #expect(user["aggregationTemporality"] as? String == "AGGREGATION_TEMPORALITY_DELTA")
        #expect(user["isMonotonic"] as? Bool == true)
        let userPoint = try #require((user["dataPoints"] as? [[String: Any]])?.first)
        #expect(userPoint["asInt"] as? String == "42")
        #expect(userPoint["timeUnixNano"] as? String == "1700000000123456789")
        #expect(userPoint["startTimeUnixNano"] as? String == "1700000000000000000")
        #expect(metrics["samples.user.count"]?["unit"] as? String == "1")

        let native = try #require(metrics["samples.native.count"])
        #expect(native["description"] as? String == "native leaf frames")
        let nativePoints = try #require((native["sum"] as? [String: Any])?["dataPoints"] as? [[String: Any]])
        #expect(nativePoints.count == 2)
        #expect(attributes(nativePoints[0]["attributes"]) == ["shlib_name": "libc.so.6"])
        #expect(nativePoints[0]["asInt"] as? String == "7")
        #expect(attributes(nativePoints[1]["attributes"]) == ["shlib_name": "tab\t\"quoted\" é"])
        // A zero as_int is still present: the point stays an integer point.
        #expect(nativePoints[1]["asInt"] as? String == "0")

        let gauge = try #require(metrics["samples.frame_type"]?["gauge"] as? [String: Any])
        let gaugePoint = try #require((gauge["dataPoints"] as? [[String: Any]])?.first)
        #expect(gaugePoint["asInt"] as? String == "-3")
        #expect(gaugePoint["startTimeUnixNano"] == nil)
    }

    @Test("JSON follows the OTLP/JSON mapping (checked with JSONSerialization)")
    func jsonMapping() throws {
        let bytes = OTLPJSON.encode(sampleBatch())
        #expect(!bytes.contains(UInt8(ascii: "\n")), "one batch must be one line")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let metrics = try metricsByName(object)
        let user = try #require(metrics["samples.user.count"]?["sum"] as? [String: Any])
        // Enums as integers, 64-bit integers as strings, lowerCamelCase names.
        #expect((user["aggregationTemporality"] as? NSNumber)?.intValue == 1)
        #expect(user["isMonotonic"] as? Bool == true)
        let point = try #require((user["dataPoints"] as? [[String: Any]])?.first)
        #expect(point["asInt"] as? String == "42")
        #expect(point["timeUnixNano"] as? String == "1700000000123456789")
        let resource = try #require((object["resourceMetrics"] as? [[String: Any]])?.first?["resource"] as? [String: Any])
        let pid = try #require((resource["attributes"] as? [[String: Any]])?.first { $0["key"] as? String == "process.pid" })
        #expect((pid["value"] as? [String: Any])?["intValue"] as? String == "4242")
        let native = try #require((metrics["samples.native.count"]?["sum"] as? [String: Any])?["dataPoints"] as? [[String: Any]])
        #expect(attributes(native[1]["attributes"]) == ["shlib_name": "tab\t\"quoted\" é"])
    }

    @Test("JSON and protobuf decode to the same request with the official parser")
    func jsonEqualsProtobuf() throws {
        let fromJSON = try decodeWithOfficialClasses("decode-json", OTLPJSON.encode(sampleBatch()))
        let fromProtobuf = try decodeWithOfficialClasses("decode-proto", OTLPProtobuf.encode(sampleBatch()))
        #expect(NSDictionary(dictionary: fromJSON).isEqual(to: fromProtobuf))
    }

    @Test("protobuf writer: varints, negative int64, fixed64 and long length prefixes")
    func protobufWriterBytes() {
        var writer = ProtobufWriter()
        writer.writeVarintField(1, 300)
        writer.writeInt64Field(2, -1)
        writer.writeFixed64Field(3, 0x0102_0304_0506_0708)
        writer.writeMessageField(4) { $0.writeStringField(1, String(repeating: "a", count: 200)) }
        var expected: [UInt8] = [0x08, 0xAC, 0x02, 0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        expected += [0x19, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
        // Field 4, length 203 (0xCB 0x01), then field 1 with length 200 (0xC8 0x01).
        expected += [0x22, 0xCB, 0x01, 0x0A, 0xC8, 0x01] + [UInt8](repeating: UInt8(ascii: "a"), count: 200)
        #expect(writer.bytes == expected)
    }

    @Test("protobuf writer: a packed varint field is one length-delimited run; empty ones and proto3 zeros are omitted")
    func protobufWriterPacked() {
        var writer = ProtobufWriter()
        writer.writePackedVarintField(1, [1, 300, UInt64(bitPattern: -1)])
        writer.writePackedVarintField(2, [])
        writer.writeVarintField(3, 0)
        writer.writeStringField(4, "")
        writer.writeStringField(5, "", always: true)
        // Field 1 (0x0A), length 1 + 2 + 10 = 13; then only field 5's empty string (0x2A 0x00).
        let expected: [UInt8] = [0x0A, 13, 0x01, 0xAC, 0x02] + [UInt8](repeating: 0xFF, count: 9) + [0x01, 0x2A, 0x00]
        #expect(writer.bytes == expected)
    }

    @Test("JSON writer escapes control characters, quotes and backslashes")
    func jsonEscaping() throws {
        var json = JSONWriter()
        json.beginObject()
        json.field("k", "a\u{01}b\"c\\d\ne/é")
        json.field("n", -5)
        json.endObject()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"k":"a\u0001b\"c\\d\ne/é","n":-5}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: Any])
        #expect(object["k"] as? String == "a\u{01}b\"c\\d\ne/é")
    }

    @Test("one JSON string literal for the exporters and inspect: every control character and DEL escaped, read back the same")
    func jsonStringLiteral() throws {
        let text = String(decoding: (0...0x7F).map { UInt8($0) }, as: UTF8.self) + "é€"
        let literal = JSONStringLiteral.quoted(text)
        #expect(!literal.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        #expect(literal.contains(#"\u007f"#) && literal.contains(#"\u001f"#) && literal.contains(#"\t"#))
        let array = try #require(try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String])
        #expect(array == [text])
        var json = JSONWriter()
        json.string(text)
        #expect(String(decoding: json.bytes, as: UTF8.self) == literal)
    }

    @Test("gzip output is a valid gzip stream (gunzip reads it back)")
    func gzipRoundTrip() throws {
        let input = Array(String(repeating: "tandem gzip round trip ", count: 500).utf8)
        let compressed = try Gzip.compress(input)
        #expect(compressed.count < input.count)
        #expect(Array(compressed.prefix(2)) == [0x1F, 0x8B])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc"]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(compressed))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(Array(output) == input)
    }
}
