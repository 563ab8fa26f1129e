import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` of the package with the toolchain's clang
/// (`-target bpf`) and embeds the objects in the target as a generated Swift
/// source, so `swift build` alone produces a sampler that carries its BPF code.
@main
struct BPFCompiler: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDirectory = context.package.directoryURL.appending(path: "bpf")
        let entries = try FileManager.default.contentsOfDirectory(
            at: bpfDirectory, includingPropertiesForKeys: nil)
        let sources = entries.filter { $0.lastPathComponent.hasSuffix(".bpf.c") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let headers = entries.filter { $0.pathExtension == "h" }
        guard !sources.isEmpty else {
            throw BPFCompilerError("no *.bpf.c file in \(bpfDirectory.path)")
        }
        let clang = try findClang(context: context)
        let embed = try context.tool(named: "tandem-bpf-embed").url
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObjects.swift")
        var arguments = ["--clang", clang.path, "--output", output.path,
                         "--scratch", context.pluginWorkDirectoryURL.path,
                         "--include", bpfDirectory.path]
        arguments += sources.map(\.path)
        return [
            .buildCommand(
                displayName: "Compiling BPF programs \(sources.map(\.lastPathComponent).joined(separator: ", "))",
                executable: embed,
                arguments: arguments,
                inputFiles: sources + headers,
                outputFiles: [output])
        ]
    }

    /// The clang next to the Swift compiler (it has the BPF back end), else
    /// one on `PATH`.
    private func findClang(context: PluginContext) throws -> URL {
        if let tool = try? context.tool(named: "clang") {
            return tool.url
        }
        var candidates = ["/opt/swift/usr/bin/clang"]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        candidates += path.split(separator: ":").map { "\($0)/clang" }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return URL(fileURLWithPath: candidate)
        }
        throw BPFCompilerError("no clang found (looked in the Swift toolchain and on PATH); install clang with the BPF target")
    }
}

struct BPFCompilerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
