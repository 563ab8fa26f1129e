import Configuration
import ProfileOutputs
import Profiles
import ProfilingMetrics
import Testing

/// The text report and the metrics are made from the same samples by different
/// code; these tests hold them to the same numbers.
@Suite("the text report agrees with the metrics of the same samples")
struct TextReportAgreementTests {
    /// Kernel leaves of three classes (one with two system calls), an unclassified
    /// kernel leaf, user leaves of two types, an empty stack, and samples whose
    /// timestamps span two windows.
    static let samples: [SymbolizedSample] = [
        sample([kernel("tcp_sendmsg", 0x10), kernel("__x64_sys_sendto", 0x20), frame(.native, "send")], at: [0, 1, 40]),
        sample([kernel("tcp_sendmsg", 0x10), kernel("__x64_sys_sendmsg", 0x30), frame(.native, "send")], at: [2]),
        sample([kernel("pipe_read", 0x40), kernel("ksys_read", 0x50), frame(.go, "main.read")], at: [3, 4]),
        sample([kernel("do_mmap", 0x60), frame(.native, "malloc")], at: [5], process: containerized),
        sample([kernel("some_unknown_function", 0x70), frame(.native, "main")], at: [6, 45]),
        sample([frame(.native, "compute", mapping: "/usr/lib/libm.so.6"), frame(.native, "main")], at: [7, 8, 9]),
        sample([frame(.go, "main.loop")], at: [10]),
        sample([], at: [11]),
    ]

    @Test("leaf frame types and kernel classes: the report's rows are the metrics' sums")
    func reportMatchesMetrics() throws {
        let connector = try connector()
        connector.add(Self.samples)
        // Two emissions, as a stream flushes windows and then finishes: the tallies add up.
        let flushed = connector.flush(upTo: at(30))
        var kernelSamples = connector.takeEmittedKernelSamples()
        let finished = connector.finish(at: at(50))
        kernelSamples.merge(connector.takeEmittedKernelSamples(), uniquingKeysWith: +)
        #expect(connector.takeEmittedKernelSamples().isEmpty)
        let metrics = points(flushed) + points(finished)

        var aggregate = ProfileAggregate()
        aggregate.add(contentsOf: Self.samples)
        let sections = TextReport().sections(aggregate, kernelSamples: kernelSamples)
        #expect(sections.map(\.labelHeading) == ["function", "frame type", "kernel class"])

        // Samples by leaf frame type: each type's row is its samples.<type>.count, and
        // the user rows (with the stackless samples) are samples.user.count.
        let typeRows = sections[1].rows.filter { $0.type != nil }
        #expect(Set(typeRows.compactMap(\.type)) == [.kernel, .native, .go])
        for row in typeRows where connector.settings.isEnabled(.count(for: row.type!)) {
            #expect(row.count == total(metrics, ProfilingMetric.count(for: row.type!).rawValue), "\(row.label)")
        }
        let userRows = sections[1].rows.filter { $0.type != .kernel }
        #expect(userRows.reduce(0) { $0 + $1.count } == total(metrics, ProfilingMetric.user.rawValue))

        // Samples by kernel class: each class row is the samples.kernel.count of its attributes.
        let classRows = Dictionary(uniqueKeysWithValues: sections[2].rows.map { ($0.label, $0.count) })
        let kernel = "samples.kernel.count"
        let expected: [(label: String, attributes: [String: String])] = [
            ("network/tcp/write (sendto)", ["kernel_area": "network", "kernel_proto": "tcp", "kernel_io": "write", "syscall_name": "sendto"]),
            ("network/tcp/write (sendmsg)", ["kernel_area": "network", "kernel_proto": "tcp", "kernel_io": "write", "syscall_name": "sendmsg"]),
            ("ipc//read (read)", ["kernel_area": "ipc", "kernel_io": "read", "syscall_name": "read"]),
            ("memory", ["kernel_area": "memory"]),
            (TextReport.unclassifiedKernelLabel, [:]),
        ]
        for (label, attributes) in expected {
            let value = total(metrics, kernel, attributes)
            #expect(value > 0, "\(label)")
            #expect(classRows[label] == value, "\(label)")
        }
        #expect(classRows.count == expected.count + 1)
        #expect(classRows[TextReport.noKernelClassLabel] == aggregate.totalSamples - total(metrics, kernel))
    }
}
