// protobuf-encoders: tandem's hand-written encoders (ProtobufWire's ProtobufWriter, with the
// exporters' OTLP metrics and remote-write encoders, the pprof writer and the OTLP/JSON
// writer, copied in by bench/protobuf-encoders.sh from the repository) against
// swift-protobuf encoding the same messages from generated code (Candidates.swift,
// PprofCandidate.swift). Prints the best of `rounds` runs per encoder, in nanoseconds per
// data point (pprof: per sample) and milliseconds per request, and checks that both
// encode the same message.
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

func measure(_ name: String, points: Int, per unit: String = "point", rounds: Int, _ body: () -> Int) {
    var best = UInt64.max
    var bytes = 0
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        bytes = body()
        best = min(best, DispatchTime.now().uptimeNanoseconds - start)
    }
    let perPoint = Double(best) / Double(points)
    print("\(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(String(format: "%8.1f", perPoint)) ns/\(unit)  "
          + "\(String(format: "%7.2f", Double(best) / 1e6)) ms  \(bytes) bytes")
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

/// A deterministic pseudo-random sequence (SplitMix64), so every run encodes the same profile.
struct SplitMix64 {
    var state: UInt64
    mutating func below(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((mixed ^ (mixed >> 31)) % UInt64(bound))
    }
}

/// A host's profile: `cells` samples of 40 processes running 12 programs, each program's
/// 400 call paths a tree (a path continues a prefix of an earlier one) through its
/// executable and 8 of 40 shared libraries, loaded at another address in each process;
/// a third under kernel functions, the processes of 2 programs in Python code, one in 20
/// native frames without a symbol, one in 50 stacks truncated.
func makeProfile(cells: Int) -> ProfileAggregate {
    var random = SplitMix64(state: 13)
    let libraries = (0..<40).map { "/usr/lib/x86_64-linux-gnu/lib\($0).so.1" } + (0..<12).map { "/usr/bin/program\($0)" }
    let processes = (0..<40).map { ProcessIdentity(pid: Int32(4000 + $0), comm: "program\($0 % 12)") }
    typealias Step = (library: Int, offset: UInt64, named: Bool)
    let programs: [[[Step]]] = (0..<12).map { program in
        let linked = [40 + program] + (0..<8).map { _ in random.below(40) }
        var paths: [[Step]] = []
        for _ in 0..<400 {
            var path = paths.isEmpty ? [] : Array(paths[random.below(paths.count)].prefix(3 + random.below(12)))
            for _ in 0..<(2 + random.below(16)) {
                let function = random.below(2000)
                path.append((linked[random.below(linked.count)], UInt64(0x1_0000 + function * 0x240 + random.below(3) * 0x18),
                             random.below(20) != 0))
            }
            paths.append(path)
        }
        return paths
    }
    var aggregate = ProfileAggregate()
    for index in 0..<cells {
        let processIndex = random.below(processes.count)
        let process = processes[processIndex]
        let paths = programs[processIndex % 12]
        var frames: [Frame] = []
        if random.below(3) == 0 {
            for _ in 0..<(3 + random.below(8)) {
                let function = random.below(300)
                frames.append(Frame(type: .kernel, address: 0xFFFF_FFFF_8100_0000 + UInt64(function) * 0x180,
                                    functionName: "kernel_function_\(function)"))
            }
        }
        if processIndex % 12 < 2 {
            for _ in 0..<(4 + random.below(16)) {
                let function = random.below(600)
                frames.append(Frame(type: .cpython, address: 0, functionName: "handler_\(function)",
                                    sourceFile: "/srv/app/module\(function % 60).py",
                                    sourceLine: UInt32(10 + function % 200 + random.below(4))))
            }
        }
        for step in paths[random.below(paths.count)].reversed() {
            let bias = 0x7F00_0000_0000 + UInt64(processIndex) << 32 + UInt64(step.library) << 24
            frames.append(Frame(type: .native, address: bias + step.offset,
                                functionName: step.named ? "function_\(step.library)_\(step.offset / 0x240)" : nil,
                                mappingPath: libraries[step.library], fileOffset: step.offset))
        }
        aggregate.add(SymbolizedSample(timestamps: Array(repeating: 1_700_000_000_000_000_000 + UInt64(index),
                                                         count: 1 + random.below(20)),
                                       process: process, threadID: process.pid + Int32(random.below(4)), cpu: 0,
                                       frames: frames, userStackTruncated: random.below(50) == 0,
                                       threadName: random.below(3) == 0 ? "" : "worker-\(random.below(4))"))
    }
    return aggregate
}

let profile = makeProfile(cells: 20_000)
let pprofWriter = PprofWriter(samplesPerSecond: 19, startTimeUnixNano: 1_700_000_000_000_000_000,
                              durationNanos: 60_000_000_000, comments: ["bench/protobuf-encoders.sh"])
let decodedProfile = try PprofProfile(serializedBytes: pprofWriter.encode(profile))
guard decodedProfile == GeneratedPprofEncoder.profile(pprofWriter, profile) else {
    fatalError("the two pprof encoders disagree")
}
if let directory = ProcessInfo.processInfo.environment["PPROF_OUTPUT"] {
    // For a check outside Swift (`go tool pprof -raw` of both files).
    let generatedBytes: [UInt8] = try GeneratedPprofEncoder.profile(pprofWriter, profile).serializedBytes()
    try Data(pprofWriter.encode(profile)).write(to: URL(fileURLWithPath: "\(directory)/hand-written.pb"))
    try Data(generatedBytes).write(to: URL(fileURLWithPath: "\(directory)/swift-protobuf.pb"))
}
let pprofSamples = profile.distinctStackCount
let stackFrames = decodedProfile.sample.reduce(0) { $0 + $1.locationID.count }
print("pprof profile, \(pprofSamples) samples (distinct stacks) of \(stackFrames / pprofSamples) frames on average, "
      + "\(decodedProfile.location.count) locations, \(decodedProfile.function.count) functions, "
      + "\(decodedProfile.stringTable.count) strings")
measure("protobuf, hand-written (ProtobufWriter)", points: pprofSamples, per: "sample", rounds: rounds) {
    pprofWriter.encode(profile).count
}
measure("protobuf, swift-protobuf", points: pprofSamples, per: "sample", rounds: rounds) {
    let bytes: [UInt8] = try! GeneratedPprofEncoder.profile(pprofWriter, profile).serializedBytes()
    return bytes.count
}
let builtProfile = GeneratedPprofEncoder.profile(pprofWriter, profile)
measure("  of which building the messages", points: pprofSamples, per: "sample", rounds: rounds) {
    GeneratedPprofEncoder.profile(pprofWriter, profile).sample.count
}
measure("  of which serializing them", points: pprofSamples, per: "sample", rounds: rounds) {
    let bytes: [UInt8] = try! builtProfile.serializedBytes()
    return bytes.count
}
measure("both: the tables they share", points: pprofSamples, per: "sample", rounds: rounds) {
    var strings = StringTable()
    return Tables(aggregate: profile, strings: &strings).locations.count
}
