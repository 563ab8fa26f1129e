import Profiles
import ProfilingMetrics
import Testing

/// The connector caches a stack's gauges and a frame's classification by its `FrameNames`
/// instance (shared per symbol by the symbolizer): what it counts must not depend on it.
@Suite("profilingmetrics connector: caches by shared frame names")
struct SharedNamesCacheTests {
    /// Every point's value summed by metric and attributes, whatever the process.
    private func totals(_ batch: MetricsBatch) -> [String: Int64] {
        var totals: [String: Int64] = [:]
        for point in points(batch) {
            totals["\(point.metric) \(point.attributes.sorted { $0.key < $1.key })", default: 0] += point.value
        }
        return totals
    }

    @Test("Stacks counted through the caches count as each stack counted alone")
    func cachedAsUncached() throws {
        let gc = FrameNames(functionName: "runtime.gcDrain", mappingPath: "/usr/bin/app", sourceFile: nil)
        let worker = FrameNames(functionName: "runtime.gcBgMarkWorker", mappingPath: "/usr/bin/app", sourceFile: nil)
        let java = FrameNames(functionName: "void java.util.HashMap.put(java.lang.Object)", mappingPath: nil, sourceFile: nil)
        let python = FrameNames(functionName: "get", mappingPath: nil, sourceFile: "/usr/lib/python3/dist-packages/requests/api.py")
        let otherPython = FrameNames(functionName: "get", mappingPath: nil, sourceFile: "/srv/app/handlers.py")
        let other = ProcessIdentity(pid: 43, comm: "app", executablePath: "/usr/bin/app")
        let stacks: [(frames: [Frame], process: ProcessIdentity)] = [
            ([Frame(type: .go, address: 0x1000, names: gc), Frame(type: .go, address: 0x2000, names: worker)], nginx),
            // The same functions at other addresses (another process of the binary).
            ([Frame(type: .go, address: 0x5000, names: gc), Frame(type: .go, address: 0x6000, names: worker)], other),
            // The first stack's addresses with other functions: no entry of the first may serve.
            ([Frame(type: .jvm, address: 0x1000, names: java), Frame(type: .go, address: 0x2000, names: gc)], nginx),
            // The same text in other instances.
            ([Frame(type: .go, address: 0x1000, functionName: "runtime.gcDrain", mappingPath: "/usr/bin/app"),
              Frame(type: .go, address: 0x2000, functionName: "runtime.gcBgMarkWorker", mappingPath: "/usr/bin/app")], nginx),
            // Python frames of one function name in two files, at one address: classified by their own file.
            ([Frame(type: .cpython, address: 0x3000, names: python)], nginx),
            ([Frame(type: .cpython, address: 0x3000, names: otherPython)], nginx),
            // One names instance as two frame types.
            ([Frame(type: .native, address: 0x1000, names: gc), Frame(type: .go, address: 0x2000, names: worker)], nginx),
        ]
        let yaml = "by_frametype: true\nby_classification: true"
        let cached = try connector(settings(yaml))
        var alone: [String: Int64] = [:]
        for stack in stacks {
            cached.add(sample(stack.frames, process: stack.process))
            let single = try connector(settings(yaml))
            single.add(sample(stack.frames, process: stack.process))
            alone.merge(totals(single.finish())) { $0 + $1 }
        }
        let together = totals(cached.finish())
        #expect(together == alone)
        #expect(together.keys.contains { $0.hasPrefix("samples.classification") })
    }

    @Test("One user part under many kernel stacks counts as each stack alone (kernel frames counted outside the per-stack cache)")
    func userPartUnderKernelStacks() throws {
        let worker = FrameNames(functionName: "std::vector<int>::push_back", mappingPath: "/usr/bin/app", sourceFile: nil)
        let main = FrameNames(functionName: "main", mappingPath: "/usr/bin/app", sourceFile: nil)
        let read = FrameNames(functionName: "ksys_read", mappingPath: "vmlinux", sourceFile: nil)
        let write = FrameNames(functionName: "ksys_write", mappingPath: "vmlinux", sourceFile: nil)
        let entry = FrameNames(functionName: "entry_SYSCALL_64", mappingPath: "vmlinux", sourceFile: nil)
        let user = [Frame(type: .native, address: 0x1000, names: worker), Frame(type: .native, address: 0x2000, names: main)]
        let stacks: [[Frame]] = [
            user,
            [Frame(type: .kernel, address: 0xffff_0010, names: read), Frame(type: .kernel, address: 0xffff_0020, names: entry)] + user,
            [Frame(type: .kernel, address: 0xffff_0030, names: write)] + user,
            // The first kernel stack again, and the user part alone again.
            [Frame(type: .kernel, address: 0xffff_0010, names: read)] + user,
            user,
            // Kernel frames only, and a kernel frame below a user frame (kept in the cached part).
            [Frame(type: .kernel, address: 0xffff_0010, names: read)],
            [Frame(type: .native, address: 0x1000, names: worker), Frame(type: .kernel, address: 0xffff_0020, names: entry)],
        ]
        let yaml = """
            by_frametype: true
            by_classification: true
            aggregations:
              - match: "^ksys_"
                label: syscalls
              - match: "push_back"
                label: vectors
            """
        let cached = try connector(settings(yaml))
        var alone: [String: Int64] = [:]
        for frames in stacks {
            cached.add(sample(frames))
            let single = try connector(settings(yaml))
            single.add(sample(frames))
            alone.merge(totals(single.finish())) { $0 + $1 }
        }
        let together = totals(cached.finish())
        #expect(together == alone)
        #expect(together.keys.contains { $0.hasPrefix("samples.custom_aggregation") && $0.contains("syscalls") })
        #expect(together.keys.contains { $0.hasPrefix("samples.frame_type") && $0.contains("kernel") })
    }
}
