import AggregatorCore
import Configuration
import Foundation
import Testing

/// Replays a real capture of Debian's python3.11 running the known-truth workload
/// (Tests/Workloads/python/known_truth.py, comm `tpy-fixture`, 8 s at 499 Hz, recorded
/// through a live sampler and aggregator and cut by scripts/replay-fixture/TrimCapture.swift
/// to that process): the Python frames are named from the code records in the stream
/// alone, so this tests their symbolization without root, BPF or the interpreter.
@Suite struct CPythonReplayTests {
    static let capture = CapturedStreamTests.fixtures.appendingPathComponent("cpython-3.11.tndm").path
    static let workload = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Workloads/python/known_truth.py").standardized.path

    /// The folded stacks and metrics sums of one replay.
    static func replayFixture() throws -> (stacks: [(frames: [String], count: Int)], metrics: [String: Int64]) {
        let directory = try temporaryDirectory()
        let metricsPath = directory + "/metrics.jsonl"
        let foldedPath = directory + "/stacks.folded"
        let configuration = try CollectorConfiguration(
            yaml: CapturedStreamTests.configuration.replacingOccurrences(of: "METRICS", with: metricsPath))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: capture)))
        _ = try replay(bytes, configuration: configuration, outputs: OutputPaths(folded: foldedPath))
        var stacks: [(frames: [String], count: Int)] = []
        for line in try String(contentsOfFile: foldedPath, encoding: .utf8).split(separator: "\n") {
            let space = line.lastIndex(of: " ")!
            stacks.append((line[..<space].split(separator: ";").map(String.init), Int(line[line.index(after: space)...])!))
        }
        return (stacks.filter { $0.frames.first == "tpy-fixture" }, try CapturedStreamTests().sums(ofMetricsFile: metricsPath))
    }

    /// `name (file:line)` → (name, file, line).
    static func parse(_ segment: String) -> (name: String, file: String, line: Int)? {
        guard segment.hasSuffix(")"), let open = segment.range(of: " (", options: .backwards) else { return nil }
        let location = segment[open.upperBound..<segment.index(before: segment.endIndex)]
        guard let colon = location.lastIndex(of: ":"), let line = Int(location[location.index(after: colon)...]) else { return nil }
        return (String(segment[..<open.lowerBound]), String(location[..<colon]), line)
    }

    /// The lines of `function`'s body in the workload's source (its `def` to the next blank line).
    static func bodyLines(of function: String, in source: String) -> ClosedRange<Int> {
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let start = lines.firstIndex { $0.contains("def \(function)(") }!
        let end = lines[start...].firstIndex { $0.trimmingCharacters(in: .whitespaces).isEmpty }! - 1
        return (start + 1)...(end + 1)
    }

    @Test("Python frames from a real capture: names, files, lines in the function, known shares, samples.cpython.count")
    func pythonFramesFromARealCapture() throws {
        let (stacks, metrics) = try Self.replayFixture()
        let source = try String(contentsOfFile: Self.workload, encoding: .utf8)
        let gammaSource = try String(contentsOfFile: Self.workload.replacingOccurrences(
            of: "known_truth.py", with: "tandem_pkg/sub/gamma_mod.py"), encoding: .utf8)
        let expected: [String: (file: String, lines: ClosedRange<Int>, share: Double)] = [
            "alpha": ("known_truth.py", Self.bodyLines(of: "alpha", in: source), 50),
            "Calc.beta": ("known_truth.py", Self.bodyLines(of: "beta", in: source), 20),
            "gamma": ("gamma_mod.py", Self.bodyLines(of: "gamma", in: gammaSource), 30),
        ]
        var innermost: [String: Int] = [:]
        var outsideBody: [String] = []
        var pythonLeaves = 0
        var total = 0
        for stack in stacks {
            total += stack.count
            let python = stack.frames.compactMap(Self.parse)
            if let leaf = Self.parse(stack.frames.last!), leaf.file.hasSuffix(".py") { pythonLeaves += stack.count }
            guard let work = python.last(where: { expected[$0.name] != nil }) else { continue }
            innermost[work.name, default: 0] += stack.count
            let truth = expected[work.name]!
            if work.file != truth.file || !truth.lines.contains(work.line) {
                outsideBody.append("\(work.name) (\(work.file):\(work.line)) x\(stack.count)")
            }
        }
        let measured = innermost.values.reduce(0, +)
        try #require(measured >= 1000, "too few samples with the workload's functions: \(measured) of \(total)")
        #expect(outsideBody.isEmpty, "frames outside their function's body: \(outsideBody.prefix(10))")
        for (name, truth) in expected {
            let share = 100 * Double(innermost[name] ?? 0) / Double(measured)
            #expect(abs(share - truth.share) <= 3, "\(name): \(share)% of samples, truth \(truth.share)%")
        }
        // Metrics name the process by its executable (the link tpy-fixture leads to python3.11).
        let cpython = metrics.filter { $0.key.hasPrefix("python3.11|samples.cpython.count") }.values.reduce(0, +)
        #expect(cpython == Int64(pythonLeaves), "samples.cpython.count \(cpython), Python leaves \(pythonLeaves)")
        // The recursion above the work: 13 `descend` frames in every stack that has one of the three.
        let descents = stacks.filter { stack in stack.frames.contains { Self.parse($0).map { expected[$0.name] != nil } ?? false } }
            .map { $0.frames.compactMap(Self.parse).filter { $0.name == "descend" }.count }
        #expect(Set(descents) == [13], "descend frames per stack: \(Set(descents).sorted())")
    }
}
