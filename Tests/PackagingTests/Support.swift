import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The repository this test file belongs to.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// `packaging/` and a file in it.
func packagingFile(_ relativePath: String) -> URL {
    repositoryRoot.appendingPathComponent("packaging").appendingPathComponent(relativePath)
}

/// Errors of the helpers below; each names what failed and how to fix it.
struct PackagingTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What a finished command printed and how it ended.
struct CommandResult: Sendable {
    var status: Int32
    var standardOutput: String
    var standardError: String
    var combined: String { standardOutput + standardError }
}

/// Finds `tool` in PATH (and the sbin directories, which a non-login PATH may lack).
func executablePath(_ tool: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    for directory in directories {
        let candidate = directory + "/" + tool
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}

/// `tool`'s path, or an error saying which Debian/PyPI package provides it.
func requireTool(_ tool: String, package: String) throws -> String {
    guard let path = executablePath(tool) else {
        throw PackagingTestError("`\(tool)` is not installed; install it with `\(package)` (scripts/install-deps.sh does)")
    }
    return path
}

/// A fresh temporary directory, removed by `cleanup()`.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init(prefix: String = "tandem-packaging") throws {
        var template = Array((NSTemporaryDirectory() + "/\(prefix).XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        guard let created else {
            throw PackagingTestError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        url = URL(fileURLWithPath: created)
    }

    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Runs `executable` with `arguments` to completion; standard output and error go to
/// files (so that neither pipe can fill and block the child).
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         currentDirectory: String? = nil) throws -> CommandResult {
    let directory = try TemporaryDirectory(prefix: "tandem-run")
    defer { directory.cleanup() }
    let outputURL = directory.url.appendingPathComponent("stdout")
    let errorURL = directory.url.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    let output = try FileHandle(forWritingTo: outputURL)
    let error = try FileHandle(forWritingTo: errorURL)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = error
    try process.run()
    process.waitUntilExit()
    try output.close()
    try error.close()
    return CommandResult(status: process.terminationStatus,
                         standardOutput: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
                         standardError: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
}

/// Runs a shell command line (for pipelines in test set-up only).
func shell(_ commandLine: String) throws -> CommandResult {
    try run("/bin/sh", ["-c", commandLine])
}
