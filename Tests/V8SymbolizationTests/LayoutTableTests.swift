import Foundation
import Testing
import V8Layouts

/// The committed table against the Node installed here, and against its live memory.
@Suite struct LayoutTableTests {
    static let node = "/usr/bin/node"
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var hasNode: Bool { FileManager.default.isExecutableFile(atPath: node) }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// read_v8dbg.py prints the fields in the struct's order: the same values, one by one.
    @Test(.enabled(if: hasNode)) func tableMatchesTheInstalledNode() throws {
        let script = Self.repository.appendingPathComponent("scripts/v8-layouts/read_v8dbg.py").path
        let (status, output) = try Self.run(["python3", script, Self.node])
        #expect(status == 0)
        let values = output.split(separator: "\n").compactMap { line in line.split(separator: " ").last.flatMap { Int($0) } }
        let table = Mirror(reflecting: V8Layout.supported[0]).children.map { child -> Int in
            if let value = child.value as? UInt16 { return Int(value) }
            return Int(child.value as? UInt32 ?? 0)
        }
        #expect(values == table, "regenerate with scripts/v8-layouts.sh")
    }

    /// walk_node.py stops the known-truth workload by ptrace and walks its frames with the
    /// table: the workload's functions, the closure by the name V8 infers, their script.
    @Test(.enabled(if: hasNode && getuid() == 0)) func liveWalkNamesTheWorkloadsFunctions() throws {
        let workload = Process()
        workload.executableURL = URL(fileURLWithPath: Self.node)
        // Without TurboFan's inlining every function keeps a frame of its own for the ptrace
        // walk to read (walk_node.py does not expand inlined functions; the sampler's walker does).
        workload.arguments = ["--no-turbo-inlining",
                              Self.repository.appendingPathComponent("Tests/Workloads/node/known_truth.js").path, "6"]
        let output = Pipe()
        workload.standardOutput = output
        try workload.run()
        defer {
            workload.terminate()
            workload.waitUntilExit()
        }
        // The workload prints "ready" before its loop starts: JIT tiers come up within it.
        _ = output.fileHandleForReading.availableData
        let script = Self.repository.appendingPathComponent("scripts/v8-layouts/walk_node.py").path
        let (status, walk) = try Self.run(["python3", script, String(workload.processIdentifier), "40"])
        #expect(status == 0)
        let frames = walk.split(separator: "\n").filter { $0.contains("('js', ") }
        for name in ["spin", "fnAlpha", "beta", "main"] {
            #expect(frames.contains { $0.contains("'js', '\(name)', '") && $0.contains("known_truth.js'") },
                    "no frame of \(name) in:\n\(walk)")
        }
    }
}
