import Configuration
import Profiles
import ProfilingMetrics
import Testing

// MARK: Fixtures

/// Stream clock: monotonic 1 s is Unix 1_699_999_990 s, 10 s into a 30 s window and at a 10 s and 5 s boundary.
let monotonicOrigin: UInt64 = 1_000_000_000
let unixOrigin: UInt64 = 1_699_999_990_000_000_000
let stream = MetricsStreamContext(hostName: "box", monotonicNanoseconds: monotonicOrigin,
                                  realtimeNanoseconds: unixOrigin)
let second: UInt64 = 1_000_000_000

/// Monotonic time `seconds` after the clock reference.
func at(_ seconds: Double) -> UInt64 { monotonicOrigin + UInt64(seconds * Double(second)) }
/// Unix nanoseconds `seconds` after the clock reference.
func unixAt(_ seconds: Double) -> UInt64 { UInt64(Int64(unixOrigin) + Int64(seconds * Double(second))) }

let nginx = ProcessIdentity(pid: 42, comm: "nginx", executablePath: "/usr/sbin/nginx")
let containerized = ProcessIdentity(pid: 7, comm: "app", executablePath: nil, containerID: "abc123")

func frame(_ type: FrameType, _ name: String?, address: UInt64 = 0, mapping: String? = nil) -> Frame {
    Frame(type: type, address: address, functionName: name, mappingPath: mapping)
}

func kernel(_ name: String?, _ address: UInt64) -> Frame {
    Frame(type: .kernel, address: 0xffff_ffff_8100_0000 + address, functionName: name, mappingPath: "vmlinux")
}

func sample(_ frames: [Frame], at times: [Double] = [0], process: ProcessIdentity = nginx) -> SymbolizedSample {
    SymbolizedSample(timestamps: times.map(at), process: process, threadID: process.pid, cpu: 0, frames: frames)
}

func connector(_ settings: ProfilingMetricsSettings = ProfilingMetricsSettings(),
               batchInterval: Duration = .seconds(5)) throws -> ProfilingMetricsConnector {
    try ProfilingMetricsConnector(settings: settings, stream: stream, batchInterval: batchInterval)
}

func settings(_ yaml: String) throws -> ProfilingMetricsSettings {
    let document = try ConfigDocument(yaml: yaml)
    return try ProfilingMetricsSettings(node: document.root, path: "connectors.profilingmetrics")
}

/// A flattened data point for assertions.
struct Point: Hashable, CustomStringConvertible {
    var metric: String
    var attributes: [String: String]
    var value: Int64
    var start: UInt64
    var end: UInt64
    var pid: Int64

    var description: String { "\(metric)\(attributes.sorted { $0.key < $1.key }) = \(value) pid \(pid)" }
}

func points(_ batch: MetricsBatch) -> [Point] {
    var result: [Point] = []
    for resource in batch.resourceMetrics {
        var pid: Int64 = -1
        if case .int(let value)? = resource.resource.first(where: { $0.key == "process.pid" })?.value { pid = value }
        for scope in resource.scopeMetrics {
            for metric in scope.metrics {
                for point in metric.data.points {
                    var attributes: [String: String] = [:]
                    for attribute in point.attributes {
                        switch attribute.value {
                        case .string(let text): attributes[attribute.key] = text
                        case .int(let number): attributes[attribute.key] = String(number)
                        }
                    }
                    result.append(Point(metric: metric.name, attributes: attributes, value: point.value,
                                        start: point.startTimeUnixNano, end: point.timeUnixNano, pid: pid))
                }
            }
        }
    }
    return result
}

func total(_ points: [Point], _ metric: String, _ attributes: [String: String]? = nil) -> Int64 {
    points.filter { $0.metric == metric && (attributes == nil || $0.attributes == attributes!) }.map(\.value).reduce(0, +)
}

let typeUnit = ["profile.type_unit": "samples_count"]

// MARK: Tests

@Suite("profilingmetrics connector: the counts")
struct ConnectorCountTests {
    @Test("user + kernel = all samples, weighted by timestamps")
    func userPlusKernel() throws {
        let connector = try connector()
        connector.add(sample([frame(.native, "main", mapping: "/usr/sbin/nginx")], at: [0, 0.1, 0.2]))
        connector.add(sample([kernel("schedule", 1), frame(.native, "poll", mapping: "/usr/lib/libc.so.6")]))
        connector.add(sample([frame(.go, "runtime.gcDrain")], at: [1, 2]))
        connector.add(SymbolizedSample(timestamps: [], process: nginx, threadID: 1, cpu: 0,
                                       frames: [kernel("tcp_recvmsg", 2)]))
        let points = points(connector.finish())
        #expect(total(points, "samples.user.count") == 5)
        #expect(total(points, "samples.kernel.count") == 2)
        #expect(connector.statistics.weight == 7)
        #expect(connector.statistics.samples == 4)
    }

    @Test("a sample without frames counts as a user sample")
    func emptyStack() throws {
        let connector = try connector()
        connector.add(sample([], at: [0, 0.5]))
        let points = points(connector.finish())
        #expect(total(points, "samples.user.count") == 2)
        #expect(points.count == 1)
        #expect(connector.statistics.emptyStackWeight == 2)
    }

    @Test("native leaves carry shlib_name when the mapping is a shared library")
    func native() throws {
        let connector = try connector()
        connector.add(sample([frame(.native, "memcpy", mapping: "/usr/lib/x86_64-linux-gnu/libc.so.6")], at: [0, 1]))
        connector.add(sample([frame(.native, "main", mapping: "/usr/sbin/nginx")]))
        connector.add(sample([frame(.native, nil, mapping: nil)]))
        let points = points(connector.finish())
        #expect(total(points, "samples.native.count", ["shlib_name": "libc"]) == 2)
        #expect(total(points, "samples.native.count", [:]) == 2)
        #expect(total(points, "samples.user.count") == 4)
    }

    @Test("per-runtime counts by the leaf frame's type, v8js included", arguments: FrameType.allCases.filter {
        $0 != .kernel && $0 != .native
    })
    func runtime(type: FrameType) throws {
        let connector = try connector()
        connector.add(sample([frame(type, "f"), frame(.native, "main", mapping: "/bin/x")], at: [0, 1, 2]))
        let points = points(connector.finish())
        #expect(total(points, "samples.\(type.rawValue).count") == 3)
        #expect(total(points, "samples.user.count") == 3)
        #expect(total(points, "samples.native.count") == 0)  // only the leaf counts
        #expect(Set(points.map(\.metric)) == ["samples.user.count", "samples.\(type.rawValue).count"])
    }

    @Test("kernel leaves carry the classification of their kernel frames")
    func kernelAttributes() throws {
        let connector = try connector()
        let receive = [kernel("_raw_spin_lock", 1), kernel("tcp_recvmsg", 2), kernel("sock_recvmsg", 3),
                       kernel("__x64_sys_recvfrom", 4), kernel("do_syscall_64", 5),
                       frame(.native, "recv", mapping: "/usr/lib/libc.so.6")]
        connector.add(sample(receive, at: [0, 1]))
        connector.add(sample([kernel("tcp_recvmsg", 2), kernel("__x64_sys_write", 6)]))
        connector.add(sample([kernel("copy_page", 7)]))
        connector.add(sample([kernel("pipe_read", 8), kernel("ksys_read", 9)]))
        let points = points(connector.finish())
        #expect(total(points, "samples.kernel.count", ["kernel_area": "network", "kernel_proto": "tcp",
                                                        "kernel_io": "read", "syscall_name": "recvfrom"]) == 2)
        #expect(total(points, "samples.kernel.count", ["kernel_area": "network", "kernel_proto": "tcp",
                                                        "kernel_io": "write", "syscall_name": "write"]) == 1)
        #expect(total(points, "samples.kernel.count", [:]) == 1)
        #expect(total(points, "samples.kernel.count", ["kernel_area": "ipc", "kernel_io": "read",
                                                        "syscall_name": "read"]) == 1)
        #expect(total(points, "samples.kernel.count") == 5)
        #expect(total(points, "samples.native.count") == 0)
    }

    @Test("the kernel cache never confuses stacks with the same addresses and other names")
    func kernelCacheVerifiesNames() throws {
        let connector = try connector()
        connector.add(sample([kernel("tcp_recvmsg", 1)]))
        connector.add(sample([kernel("pipe_write", 1)]))
        let points = points(connector.finish())
        #expect(total(points, "samples.kernel.count", ["kernel_area": "network", "kernel_proto": "tcp",
                                                        "kernel_io": "read"]) == 1)
        #expect(total(points, "samples.kernel.count", ["kernel_area": "ipc", "kernel_io": "write"]) == 1)
    }

    @Test("sums are delta, monotonic, unit 1, under the connector's scope")
    func shape() throws {
        let connector = try connector()
        connector.add(sample([frame(.native, "main", mapping: "/bin/x")]))
        let batch = connector.finish()
        let scope = try #require(batch.resourceMetrics.first?.scopeMetrics.first)
        #expect(scope.scopeName
                == "github.com/elastic/opentelemetry-collector-components/connector/profilingmetricsconnector")
        for metric in scope.metrics {
            #expect(metric.unit == "1")
            guard case .sum(_, let temporality, let monotonic) = metric.data else {
                Issue.record("\(metric.name) is not a sum")
                continue
            }
            #expect(temporality == .delta)
            #expect(monotonic)
        }
    }

    @Test("resource attributes describe the process and host")
    func resources() throws {
        let connector = try connector()
        connector.add(sample([frame(.native, "main")], process: nginx))
        connector.add(sample([frame(.native, "main")], process: containerized))
        let batch = connector.finish()
        #expect(batch.resourceMetrics.map(\.resource) == [
            [Attribute("container.id", "abc123"), Attribute("host.name", "box"),
             Attribute("process.executable.name", "app"), Attribute("process.pid", Int64(7))],
            [Attribute("host.name", "box"), Attribute("process.executable.name", "nginx"),
             Attribute("process.executable.path", "/usr/sbin/nginx"), Attribute("process.pid", Int64(42))],
        ])
    }

    @Test("a process whose identity changes (exec) becomes a new resource")
    func exec() throws {
        let connector = try connector()
        connector.add(sample([frame(.native, "main")], process: ProcessIdentity(pid: 9, comm: "sh", executablePath: "/bin/sh")))
        connector.add(sample([frame(.native, "main")], process: ProcessIdentity(pid: 9, comm: "ls", executablePath: "/bin/ls")))
        let batch = connector.finish()
        #expect(batch.resourceMetrics.count == 2)
    }

    @Test("disabled metrics are not emitted (older generation, by_frame false)")
    func disabled() throws {
        let connector = try connector(settings("by_frame: false\nby_frametype: true"))
        connector.add(sample([frame(.native, "main"), frame(.native, "start")]))
        let points = points(connector.finish())
        #expect(Set(points.map(\.metric)) == ["samples.frame_type"])
    }
}

@Suite("profilingmetrics connector: the gauges")
struct ConnectorGaugeTests {
    @Test("samples.frame_type: +1 per frame by type, not weighted")
    func frameType() throws {
        let connector = try connector(settings("by_frametype: true"))
        connector.add(sample([kernel("schedule", 1), kernel("do_syscall_64", 2), frame(.native, "poll"),
                              frame(.go, "main.main")], at: [0, 1, 2]))
        connector.add(sample([frame(.go, "runtime.mcall")]))
        let points = points(connector.finish())
        #expect(total(points, "samples.frame_type", typeUnit.merging(["frame_type": "kernel"]) { a, _ in a }) == 2)
        #expect(total(points, "samples.frame_type", typeUnit.merging(["frame_type": "native"]) { a, _ in a }) == 1)
        #expect(total(points, "samples.frame_type", typeUnit.merging(["frame_type": "go"]) { a, _ in a }) == 2)
        #expect(points.allSatisfy { $0.metric == "samples.frame_type" })
    }

    @Test("samples.frame_type: types interleaved in a stack, every type, counted per type")
    func frameTypeInterleaved() throws {
        let connector = try connector(settings("by_frametype: true"))
        // Every type once, native and go twice more, between the others: native 3, go 3, others 1.
        var frames = [kernel("schedule", 1), frame(.native, "n"), frame(.go, "main.g"), frame(.jvm, "J.m"),
                      frame(.native, "n"), frame(.go, "main.g")]
        frames += FrameType.allCases.filter { $0 != .kernel && $0 != .jvm }.map { frame($0, "f") }
        connector.add(sample(frames))
        connector.add(sample(frames))
        let points = points(connector.finish())
        for type in FrameType.allCases {
            let expected: Int64 = switch type {
            case .native, .go: 6
            default: 2
            }
            #expect(total(points, "samples.frame_type", typeUnit.merging(["frame_type": type.rawValue]) { a, _ in a }) == expected,
                    "\(type)")
        }
    }

    @Test("samples.classification: classification holds the package, frame_type the runtime")
    func classification() throws {
        let connector = try connector(settings("by_classification: true"))
        connector.add(sample([frame(.go, "runtime.gcDrain"), frame(.go, "runtime.gcBgMarkWorker"),
                              frame(.go, "github.com/x/y/prometheus.(*p).Run")]))
        connector.add(sample([frame(.jvm, "void sun.security.provider.DigestBase.engineUpdate(byte[])"),
                              frame(.jvm, "Interpreter"), frame(.jvm, nil)]))
        connector.add(sample([frame(.native, "std::vector<int>::push_back(int const&)"), frame(.native, "main"),
                              frame(.rust, "tokio::runtime::park::CachedParkThread::block_on"),
                              frame(.cpython, "module.func")]))
        let points = points(connector.finish())
        func expect(_ classification: String, _ type: String, _ value: Int64) {
            #expect(total(points, "samples.classification",
                          ["classification": classification, "frame_type": type, "profile.type_unit": "samples_count"])
                    == value, "\(classification) \(type)")
        }
        expect("runtime", "go", 2)
        expect("github.com/x/y/prometheus", "go", 1)
        expect("sun.security.provider.DigestBase", "jvm", 1)
        expect("std::vector", "native", 1)
        expect("tokio::runtime::park::CachedParkThread", "rust", 1)
        #expect(total(points, "samples.classification") == 6)
        #expect(connector.statistics.unclassifiedFrames == 2)
        for point in points where point.metric == "samples.classification" {
            #expect(["go", "jvm", "native", "rust"].contains(point.attributes["frame_type"]))
        }
    }

    @Test("samples.custom_aggregation: frame_type holds the label, +1 per matching frame")
    func customAggregation() throws {
        let connector = try connector(settings("""
            aggregations:
              - match: "^(malloc|free|realloc)$"
                label: allocator
              - match: "alloc"
                label: anything-alloc
            """))
        connector.add(sample([frame(.native, "malloc"), frame(.native, "xmalloc_wrapper"), frame(.native, "main")],
                             at: [0, 1, 2, 3]))
        connector.add(sample([frame(.native, "free"), frame(.native, nil)]))
        let points = points(connector.finish())
        #expect(total(points, "samples.custom_aggregation", ["frame_type": "allocator", "profile.type_unit": "samples_count"])
                == 2)
        #expect(total(points, "samples.custom_aggregation",
                      ["frame_type": "anything-alloc", "profile.type_unit": "samples_count"]) == 2)
        #expect(total(points, "samples.user.count") == 5)
    }

    @Test("gauges are gauges")
    func gaugeShape() throws {
        let connector = try connector(settings("by_frametype: true\nby_classification: true"))
        connector.add(sample([frame(.go, "main.main")]))
        let metrics = connector.finish().resourceMetrics.flatMap { $0.scopeMetrics.flatMap(\.metrics) }
        #expect(metrics.map(\.name) == ["samples.frame_type", "samples.classification"])
        for metric in metrics {
            guard case .gauge = metric.data else {
                Issue.record("\(metric.name) is not a gauge")
                continue
            }
            #expect(metric.unit == "1")
        }
    }
}

@Suite("profilingmetrics connector: windows")
struct ConnectorWindowTests {
    @Test("windows of flush_interval in stream time, start and end on the window")
    func windows() throws {
        // unixAt(0) is 10 s into the 30 s window [unixAt(-10), unixAt(20)).
        let connector = try connector(settings("flush_interval: 30s"))
        connector.add(sample([frame(.native, "a")], at: [0, 5]))
        connector.add(sample([frame(.native, "b")], at: [25]))  // next window
        #expect(connector.flush(upTo: at(19)).isEmpty)  // first window not over yet
        let first = points(connector.flush(upTo: at(20)))
        #expect(first.count == 2)  // user + native
        #expect(first.allSatisfy { $0.start == unixAt(-10) && $0.end == unixAt(20) })
        #expect(total(first, "samples.user.count") == 2)

        let rest = points(connector.finish())
        #expect(rest.allSatisfy { $0.start == unixAt(20) && $0.end == unixAt(50) })
        #expect(total(rest, "samples.user.count") == 1)
    }

    @Test("0s flush interval uses the batch interval")
    func perBatch() throws {
        let connector = try connector(settings("flush_interval: 0s"), batchInterval: .seconds(5))
        #expect(connector.windowNanoseconds == 5 * second)
        connector.add(sample([frame(.native, "a")], at: [0, 4, 6]))
        let first = points(connector.flush(upTo: at(5)))
        #expect(total(first, "samples.user.count") == 2)
        #expect(first.allSatisfy { $0.start == unixAt(0) && $0.end == unixAt(5) })
        let rest = points(connector.finish())
        #expect(total(rest, "samples.user.count") == 1)
        #expect(rest.allSatisfy { $0.start == unixAt(5) && $0.end == unixAt(10) })
    }

    @Test("one sample's timestamps split over windows; its gauges go to the first")
    func split() throws {
        let connector = try connector(settings("flush_interval: 10s\nmetrics: { samples.frame_type: { enabled: true } }"))
        connector.add(sample([frame(.native, "a")], at: [1, 2, 11]))
        let points = points(connector.finish())
        let user = points.filter { $0.metric == "samples.user.count" }.sorted { $0.start < $1.start }
        #expect(user.map(\.value) == [2, 1])
        #expect(user.map(\.start) == [unixAt(0), unixAt(10)])
        let gauges = points.filter { $0.metric == "samples.frame_type" }
        #expect(gauges.map(\.value) == [1])
        #expect(gauges.first?.start == unixAt(0))
    }

    @Test("late samples count in the oldest open window and are reported")
    func late() throws {
        let connector = try connector(settings("flush_interval: 10s"))
        connector.add(sample([frame(.native, "a")], at: [1]))
        let first = points(connector.flush(upTo: at(10)))
        #expect(total(first, "samples.user.count") == 1)
        connector.add(sample([frame(.native, "a")], at: [2, 3]))  // its window was emitted
        #expect(connector.statistics.lateWeight == 2)
        let rest = points(connector.finish())
        #expect(total(rest, "samples.user.count") == 2)
        #expect(rest.allSatisfy { $0.start == unixAt(10) })
    }

    @Test("finish(at:) ends the last window at the stream's end, never before its last sample")
    func finishAt() throws {
        let connector = try connector(settings("flush_interval: 30s"))
        connector.add(sample([frame(.native, "a")], at: [3]))
        let points = points(connector.finish(at: at(7)))
        #expect(points.allSatisfy { $0.start == unixAt(-10) && $0.end == unixAt(7) })

        let other = try self.connectorWithSample(at: 8)
        let clamped = ProfilingMetricsTests.points(other.finish(at: at(2)))
        #expect(clamped.allSatisfy { $0.end == unixAt(8) + 1 })
    }

    private func connectorWithSample(at time: Double) throws -> ProfilingMetricsConnector {
        let connector = try connector(settings("flush_interval: 30s"))
        connector.add(sample([frame(.native, "a")], at: [time]))
        return connector
    }

    @Test("deltas: a flushed series starts again from zero")
    func deltas() throws {
        let connector = try connector(settings("flush_interval: 10s"))
        connector.add(sample([frame(.native, "a")], at: [1, 2]))
        #expect(total(points(connector.flush(upTo: at(10))), "samples.user.count") == 2)
        connector.add(sample([frame(.native, "a")], at: [11]))
        #expect(total(points(connector.flush(upTo: at(20))), "samples.user.count") == 1)
        #expect(connector.finish().isEmpty)
    }

    @Test("the same input gives the same output (replay is deterministic)")
    func deterministic() throws {
        func run() throws -> MetricsBatch {
            let connector = try connector(settings("by_frame: true\nby_frametype: true\nby_classification: true"))
            for index in 0..<200 {
                let process = ProcessIdentity(pid: Int32(index % 7), comm: "p\(index % 7)")
                connector.add(sample([kernel(index % 3 == 0 ? "tcp_recvmsg" : "schedule", UInt64(index % 3)),
                                      frame(.go, "pkg\(index % 5).F"), frame(.native, "main", mapping: "/lib/libz.so.1")],
                                     at: [Double(index) * 0.1], process: process))
            }
            return connector.finish()
        }
        #expect(try run() == run())
    }
}

@Suite("profilingmetrics connector: from a configuration")
struct ConnectorConfigurationTests {
    @Test("the seed configuration emits sums, frame types and classifications in 5 s windows")
    func seed() throws {
        let configuration = try CollectorConfiguration(yaml: """
            receivers:
              profiling:
                SamplesPerSecond: 19
            connectors:
              profilingmetrics:
                by_frame: true
                by_frametype: true
                by_classification: true
            service:
              pipelines:
                profiles:
                  receivers: [ profiling ]
                  exporters: [ profilingmetrics ]
                metrics:
                  receivers: [ profilingmetrics ]
                  exporters: [ elasticsearch ]
            """)
        let connector = try #require(try ProfilingMetricsConnector(configuration: configuration, stream: stream))
        #expect(connector.windowNanoseconds == 5 * second)
        connector.add(sample([kernel("futex_wait", 1), kernel("__x64_sys_futex", 2), frame(.go, "runtime.futex"),
                              frame(.go, "main.main")], at: [0, 1]))
        let points = points(connector.finish())
        #expect(Set(points.map(\.metric)) == ["samples.kernel.count", "samples.frame_type", "samples.classification"])
        #expect(total(points, "samples.kernel.count", ["kernel_area": "synchronization", "syscall_name": "futex"]) == 2)
        #expect(total(points, "samples.frame_type") == 4)
        #expect(total(points, "samples.classification") == 2)
    }

    @Test("a stack mixing every frame type counts once, and each frame once in samples.frame_type")
    func everyType() throws {
        let connector = try connector(settings("by_frame: true\nby_frametype: true"))
        connector.add(sample(FrameType.allCases.map { frame($0, "f") }, at: [0, 1, 2]))
        let points = points(connector.finish())
        #expect(total(points, "samples.user.count") == 3)  // the leaf is native
        #expect(total(points, "samples.native.count") == 3)
        for type in FrameType.allCases {
            #expect(total(points, "samples.frame_type", ["frame_type": type.rawValue, "profile.type_unit": "samples_count"])
                    == 1)
        }
    }
}

@Suite("profilingmetrics connector: without the connector")
struct ConnectorAbsentTests {
    @Test("no connector when no pipeline uses profilingmetrics")
    func absent() throws {
        let configuration = try CollectorConfiguration(yaml: """
            receivers: { profiling: }
            service:
              pipelines:
                profiles: { receivers: [profiling], exporters: [file] }
            """)
        #expect(try ProfilingMetricsConnector(configuration: configuration, stream: stream) == nil)
    }
}
