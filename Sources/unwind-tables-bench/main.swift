// Measures how long compiling unwind tables takes and how large they are.
//   swift build -c release --product unwind-tables-bench
//   .build/release/unwind-tables-bench [--repeat N] FILE...
// Prints one line per file; not a test (no assertion on speed).
import Foundation
import UnwindTableCompiler
import UnwindTableFormat

var arguments = Array(CommandLine.arguments.dropFirst())
var repeats = 5
if let index = arguments.firstIndex(of: "--repeat"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
    repeats = max(1, value)
    arguments.removeSubrange(index...index + 1)
}
guard !arguments.isEmpty else {
    FileHandle.standardError.write(Data("usage: unwind-tables-bench [--repeat N] FILE...\n".utf8))
    exit(2)
}

print("| file | file size | FDEs (eh_frame + debug_frame) | rows before merging | rows | serialized bytes | unsupported rows | compile time (median of \(repeats)) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for path in arguments {
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("\(path): cannot read\n".utf8))
        exit(1)
    }
    let bytes = [UInt8](data)
    var durations: [Duration] = []
    var table: UnwindTable?
    do {
        for _ in 0..<repeats {
            let clock = ContinuousClock()
            let start = clock.now
            table = try UnwindTable.compile(elfBytes: bytes)
            durations.append(clock.now - start)
        }
    } catch {
        FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
        exit(1)
    }
    guard let table else { continue }
    durations.sort()
    let median = durations[durations.count / 2]
    let milliseconds = Double(median.components.seconds) * 1000 + Double(median.components.attoseconds) / 1e15
    let statistics = table.statistics
    let unsupported = statistics.unsupportedRows.values.reduce(0, +)
    print("| \(path) | \(bytes.count) | \(statistics.ehFrameFDEs) + \(statistics.debugFrameFDEs) | \(statistics.rowsBeforeMerging) | \(table.rowCount) | \(table.serialized().count) | \(unsupported) | \(String(format: "%.1f", milliseconds)) ms |")
    if CommandLine.arguments.contains("--verbose") || ProcessInfo.processInfo.environment["VERBOSE"] != nil {
        print("  \(statistics)")
    }
}
