// protobuf-encoders: tandem's hand-written encoders (ProtobufWire's ProtobufWriter, with the
// exporters' OTLP metrics and remote-write encoders and the OTLP/JSON writer, copied in by
// bench/protobuf-encoders.sh from the repository) against swift-protobuf encoding the same
// messages from generated code (Candidates.swift). Prints the best of `rounds` runs per
// encoder, in nanoseconds per data point, and checks that both encode the same message.
import Foundation
import SwiftProtobuf

/// A flood-sized metrics flush: `processes` processes with 6 metrics of 8 points each, the
/// shape of `samples.native.count` by `shlib_name`.
func makeBatch(processes: Int) -> MetricsBatch {
    let scope = "github.com/elastic/opentelemetry-collector-components/connector/profilingmetricsconnector"
    return MetricsBatch(resourceMetrics: (0..<processes).map { pid in
        ResourceMetrics(
            resource: [Attribute("host.name", "bench-host"), Attribute("process.pid", Int64(pid)),
                       Attribute("process.executable.name", "proc\(pid)"),
                       Attribute("process.executable.path", "/usr/bin/proc\(pid)")],
            scopeMetrics: [ScopeMetrics(scopeName: scope, scopeVersion: "0.1", metrics: (0..<6).map { metric in
                Metric(name: "samples.m\(metric).count", data: .sum(points: (0..<8).map { point in
                    NumberDataPoint(attributes: [Attribute("shlib_name", "lib\(point).so"), Attribute("syscall_name", "read")],
                                    startTimeUnixNano: 1_700_000_000_000_000_000, timeUnixNano: 1_700_000_005_000_000_000,
                                    value: Int64(point * 3 + 1))
                }, temporality: .delta, isMonotonic: true))
            })])
    })
}

func measure(_ name: String, points: Int, rounds: Int, _ body: () -> Int) {
    var best = UInt64.max
    var bytes = 0
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        bytes = body()
        best = min(best, DispatchTime.now().uptimeNanoseconds - start)
    }
    let perPoint = Double(best) / Double(points)
    print("\(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(String(format: "%8.1f", perPoint)) ns/point  \(bytes) bytes")
}

let rounds = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 15
let processes = 2000
let batch = makeBatch(processes: processes)
let points = processes * 6 * 8
let decoded = try MetricsRequest(serializedBytes: OTLPProtobuf.encode(batch))
guard decoded == GeneratedMetricsEncoder.request(batch) else { fatalError("the two metrics encoders disagree") }
var jsonOptions = JSONEncodingOptions()
jsonOptions.alwaysPrintEnumsAsInts = true  // OTLP/JSON: enums as integers

print("OTLP metrics request, \(processes) processes, \(points) points")
measure("protobuf, hand-written (ProtobufWriter)", points: points, rounds: rounds) { OTLPProtobuf.encode(batch).count }
measure("protobuf, swift-protobuf", points: points, rounds: rounds) {
    let bytes: [UInt8] = try! GeneratedMetricsEncoder.request(batch).serializedBytes()
    return bytes.count
}
let built = GeneratedMetricsEncoder.request(batch)
measure("  of which building the messages", points: points, rounds: rounds) {
    GeneratedMetricsEncoder.request(batch).resourceMetrics.count
}
measure("  of which serializing them", points: points, rounds: rounds) {
    let bytes: [UInt8] = try! built.serializedBytes()
    return bytes.count
}
measure("OTLP/JSON, hand-written (JSONWriter)", points: points, rounds: rounds) { OTLPJSON.encode(batch).count }
measure("OTLP/JSON, swift-protobuf", points: points, rounds: rounds) {
    let bytes: [UInt8] = try! GeneratedMetricsEncoder.request(batch).jsonUTF8Bytes(options: jsonOptions)
    return bytes.count
}

let series = (0..<points).map { index in
    RemoteWriteSeries(labels: [("__name__", "samples_native_count"), ("host_name", "bench-host"),
                               ("process_pid", "\(index / 48)"), ("process_executable_name", "proc\(index / 48)"),
                               ("shlib_name", "lib\(index % 8).so")],
                      samples: [(Double(index % 7 + 1), 1_700_000_005_000)])
}
guard RemoteWriteEncoders.handWritten(series) == RemoteWriteEncoders.generated(series) else {
    fatalError("the two remote write encoders disagree")
}
print("Prometheus remote write request, \(series.count) series")
measure("protobuf, hand-written (ProtobufWriter)", points: series.count, rounds: rounds) {
    RemoteWriteEncoders.handWritten(series).count
}
measure("protobuf, swift-protobuf", points: series.count, rounds: rounds) { RemoteWriteEncoders.generated(series).count }
