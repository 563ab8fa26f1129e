// Measures how long the symbolizer takes to load a file's symbols and name addresses in it.
//   swift build -c release --product symbolization-bench
//   .build/release/symbolization-bench [--repeat N] [--source-lines off] FILE...
// Each repeat is a new Symbolizer (nothing cached): one mapping of the whole file and one
// stack of 512 addresses spread over it, so the time is the file's reading (headers, notes,
// symbol tables, debug-file lookup) plus the lookups, and with source lines on (the
// default) the reading of the file's line table (DWARF .debug_line or Go .gopclntab) and
// the line lookups. Prints one table row per file.
import Foundation
import Logging
import Symbolization
import WireFormat

var arguments = Array(CommandLine.arguments.dropFirst())
var repeats = 7
if let index = arguments.firstIndex(of: "--repeat"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
    repeats = max(1, value)
    arguments.removeSubrange(index...index + 1)
}
var sourceLines = true
if let index = arguments.firstIndex(of: "--source-lines"), index + 1 < arguments.count {
    sourceLines = arguments[index + 1] != "off"
    arguments.removeSubrange(index...index + 1)
}
guard !arguments.isEmpty else {
    FileHandle.standardError.write(Data("usage: symbolization-bench [--repeat N] [--source-lines off] FILE...\n".utf8))
    exit(2)
}

let logger = Logger(label: "symbolization-bench") { _ in SwiftLogNoOpLogHandler() }
let pid: Int32 = 0x3fff_fff0
let base: UInt64 = 0x7f00_0000_0000
print("| file | file size | named frames of 512 | frames with lines | line table | load + 512 lookups (median of \(repeats), lines \(sourceLines ? "on" : "off")) |")
print("|---|---:|---:|---:|---:|---:|")
for path in arguments {
    var status = stat()
    guard stat(path, &status) == 0 else {
        FileHandle.standardError.write(Data("\(path): cannot stat\n".utf8))
        exit(1)
    }
    let size = UInt64(status.st_size)
    let mapping = Mapping(start: base, end: base + (size + 0xFFF) & ~0xFFF, fileOffset: 0,
                          device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: path)
    // Return addresses spread over the file (lookups use address - 1).
    let stack = (0..<512).map { base + size / 512 * UInt64($0) + 17 }
    var durations: [Duration] = []
    var named = 0
    var withLines = 0
    var tableBytes: UInt64 = 0
    for _ in 0..<repeats {
        let clock = ContinuousClock()
        let start = clock.now
        var options = SymbolizerOptions()
        options.useProcessRoot = false
        options.sourceLines = sourceLines
        let symbolizer = Symbolizer(options: options, logger: logger)
        symbolizer.apply(.process(WireFormat.ProcessInfo(pid: pid, parentPID: 1, startTime: 0, comm: "bench",
                                                         executablePath: path, cgroupPath: "/")))
        symbolizer.apply(.mappings(Mappings(pid: pid, mappings: [mapping])))
        let frames = symbolizer.symbolize(Sample(time: 1, pid: pid, tid: pid, cpu: 0, userStackID: 1,
                                                 kernelStack: [], userStack: stack)).frames
        durations.append(clock.now - start)
        named = frames.filter { $0.functionName != nil }.count
        withLines = frames.filter { $0.sourceLine != 0 }.count
        tableBytes = symbolizer.statistics.lineTableBytes
    }
    durations.sort()
    let median = durations[durations.count / 2]
    let milliseconds = Double(median.components.seconds) * 1000 + Double(median.components.attoseconds) / 1e15
    let table = String(format: "%.1f MiB", Double(tableBytes) / 1048576)
    print("| \(path) | \(size) | \(named) | \(withLines) | \(table) | \(String(format: "%.1f", milliseconds)) ms |")
}
