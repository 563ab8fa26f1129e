import Foundation

/// A fresh path in a per-test-run temporary directory.
func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("tandem-profile-outputs-\(getpid())", isDirectory: true)
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("\(UUID().uuidString)-\(name)").path
}

struct CommandFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs `arguments` (the first found on PATH) and returns its standard output;
/// throws with its standard error when it fails or cannot be found.
func run(_ arguments: [String], installHint: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    // Read before waiting: a full pipe would block the child.
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let stderr = String(decoding: errorData, as: UTF8.self)
        throw CommandFailure(description: "\(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(stderr) (if the tool is missing: \(installHint))")
    }
    return String(decoding: outputData, as: UTF8.self)
}
