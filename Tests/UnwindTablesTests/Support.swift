import Foundation
import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// Runs a program to completion and returns its standard output; throws on a non-zero exit.
func runProgram(_ executable: String, _ arguments: [String], acceptedStatuses: Set<Int32> = [0]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard acceptedStatuses.contains(process.terminationStatus) else {
        throw CommandFailure(command: ([executable] + arguments).joined(separator: " "), status: process.terminationStatus)
    }
    return String(decoding: data, as: UTF8.self)
}

struct CommandFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var description: String { "\(command) exited with status \(status)" }
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// A fresh directory under the temporary directory, removed by `remove()`.
struct ScratchDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "unwind-tables-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Compiles `source` with `cc flags` into an executable in `directory` and returns its path.
func compileC(_ source: String, name: String, flags: [String], in directory: ScratchDirectory) throws -> String {
    let sourcePath = directory.path + "/\(name).c"
    let outputPath = directory.path + "/\(name)"
    try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
    _ = try runProgram("/usr/bin/cc", flags + ["-o", outputPath, sourcePath])
    return outputPath
}

/// Address and size of a defined function symbol, from `nm -S`.
func functionSymbol(_ name: String, in path: String) throws -> (address: UInt64, size: UInt64)? {
    for line in try runProgram("/usr/bin/nm", ["-S", path]).split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count == 4, fields[3] == name, fields[2] == "T" || fields[2] == "t",
              let address = UInt64(fields[0], radix: 16), let size = UInt64(fields[1], radix: 16) else { continue }
        return (address, size)
    }
    return nil
}

/// The tables that `readelf --debug-dump=frames-interp` prints, per section.
struct ReadelfFrames {
    struct Row {
        var location: UInt64
        var cfa: String
        var rbp: String?
        var returnAddress: String?
    }

    struct FDE {
        var section: String
        var cieOffset: String
        var start: UInt64
        var end: UInt64
        var rows: [Row]
    }

    var fdes: [FDE] = []

    init(path: String) throws {
        // readelf exits with 1 on libc.so.6 after printing every table (it cannot follow the
        // .gnu_debuglink); the tables it printed are complete.
        let output = try runProgram("/usr/bin/readelf", ["--wide", "--debug-dump=frames-interp", path], acceptedStatuses: [0, 1])
        var section = ""
        var cieRows: [String: [Row]] = [:] // "section/offset" -> initial row
        var currentCIE: String?
        var currentFDE: Int?
        var columns: [String] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Contents of the ") {
                section = String(line.dropFirst("Contents of the ".count).prefix { $0 != " " })
                currentCIE = nil; currentFDE = nil; columns = []
                continue
            }
            if line.isEmpty { columns = []; continue }
            let tokens = Self.tokens(line)
            if tokens.count >= 4, tokens[3] == "CIE" {
                currentCIE = "\(section)/\(tokens[0])"; currentFDE = nil
                continue
            }
            if tokens.count >= 6, tokens[3] == "FDE", tokens[4].hasPrefix("cie="), tokens[5].hasPrefix("pc=") {
                let range = tokens[5].dropFirst(3).split(separator: ".", omittingEmptySubsequences: true)
                guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16) else { continue }
                fdes.append(FDE(section: section, cieOffset: "\(section)/\(tokens[4].dropFirst(4))", start: start, end: end, rows: []))
                currentFDE = fdes.count - 1; currentCIE = nil
                continue
            }
            if tokens.first == "LOC" { columns = tokens; continue }
            guard !columns.isEmpty, tokens.count == columns.count, let location = UInt64(tokens[0], radix: 16) else { continue }
            var row = Row(location: location, cfa: tokens[1])
            for (column, value) in zip(columns, tokens).dropFirst(2) {
                if column == "rbp" { row.rbp = value }
                if column == "ra" { row.returnAddress = value }
            }
            if let currentFDE { fdes[currentFDE].rows.append(row) }
            else if let currentCIE { cieRows[currentCIE, default: []].append(row) }
        }
        // An FDE without instructions has its CIE's initial row.
        for index in fdes.indices where fdes[index].rows.isEmpty {
            if var initial = cieRows[fdes[index].cieOffset]?.last {
                initial.location = fdes[index].start
                fdes[index].rows = [initial]
            }
        }
    }

    /// Whitespace-separated fields, with readelf's "r10 (r10)" register cells kept whole.
    static func tokens(_ line: Substring) -> [String] {
        var tokens: [String] = []
        for token in line.split(separator: " ") {
            if token.hasPrefix("("), !tokens.isEmpty { tokens[tokens.count - 1] += " " + token } else { tokens.append(String(token)) }
        }
        return tokens
    }
}

/// Compares a compiled table with readelf's interpretation at every row location of every
/// FDE of `section`; returns the disagreements and the number of locations checked.
func compare(_ table: UnwindTable, with frames: ReadelfFrames, section: String) -> (mismatches: [String], checked: Int) {
    var mismatches: [String] = []
    var checked = 0
    var coveredEnd: UInt64 = 0
    for fde in frames.fdes.filter({ $0.section == section && $0.start != 0 && $0.end > $0.start }).sorted(by: { $0.start < $1.start }) {
        guard fde.start >= coveredEnd else { continue } // overlapping FDEs are skipped by the compiler too
        coveredEnd = fde.end
        for row in fde.rows where row.location < fde.end {
            checked += 1
            let ours = table.lookup(address: row.location)
            let problem = disagreement(ours: ours, readelf: row)
            if let problem, mismatches.count < 20 {
                mismatches.append("\(section) FDE 0x\(String(fde.start, radix: 16)) at 0x\(String(row.location, radix: 16)): \(problem)")
            }
        }
    }
    return (mismatches, checked)
}

private func disagreement(ours: UnwindRow?, readelf row: ReadelfFrames.Row) -> String? {
    guard let ours else { return "no row, readelf has CFA \(row.cfa)" }
    let returnAddress = row.returnAddress ?? "u"
    if returnAddress == "u" {
        return ours.cfa == .endOfStack ? nil : "readelf's return address is undefined, ours is \(ours.cfa)"
    }
    if returnAddress != "c-8" {
        return ours.cfa == .unsupported ? nil : "readelf's return address is \(returnAddress), ours is \(ours.cfa)"
    }
    let expected: CFARule
    if let plus = row.cfa.firstIndex(of: "+"), let offset = Int64(row.cfa[row.cfa.index(after: plus)...]) {
        let register = row.cfa[..<plus]
        if (register == "rsp" || register == "rbp") && offset <= CFAInterpreter.maximumCFAOffset {
            expected = .registerOffset(register == "rsp" ? .rsp : .rbp, offset: Int32(offset))
        } else {
            expected = .unsupported
        }
    } else if row.cfa == "exp" {
        if case .pltExpression = ours.cfa { expected = ours.cfa } else { expected = .unsupported }
    } else {
        expected = .unsupported
    }
    guard ours.cfa == expected else {
        // An rbp offset the packed entry cannot hold makes the whole row unsupported.
        return "CFA: readelf \(row.cfa), ours \(ours.cfa)"
    }
    guard expected != .unsupported else { return nil }
    let rbp = row.rbp ?? "u"
    switch rbp {
    case "u", "s":
        return ours.rbp == .unchanged || (rbp == "u" && ours.rbp == .undefined) ? nil : "rbp: readelf \(rbp), ours \(ours.rbp)"
    default:
        if rbp.hasPrefix("c"), let offset = Int32(rbp.dropFirst()) {
            return ours.rbp == .cfaOffset(offset) ? nil : "rbp: readelf \(rbp), ours \(ours.rbp)"
        }
        return ours.rbp == .undefined ? nil : "rbp: readelf \(rbp), ours \(ours.rbp)"
    }
}

/// The C workload of the tests: leaf and recursive functions, a large frame, and alloca
/// (which forces an rbp-based CFA even with -fomit-frame-pointer).
let workloadSource = """
#include <alloca.h>
#include <string.h>
#include <stdio.h>
__attribute__((noinline)) long leaf(long x) { return x * 3 + 1; }
__attribute__((noinline)) long big_frame(int n) {
    volatile char buffer[200000];
    for (int i = 0; i < n; i++) buffer[i] = (char)i;
    return buffer[n / 2] + leaf(n);
}
__attribute__((noinline)) long dynamic(int n) {
    char *p = alloca((size_t)n);
    memset(p, 1, (size_t)n);
    return p[n - 1] + leaf(n);
}
__attribute__((noinline)) long recurse(int n) { return n <= 0 ? leaf(n) : recurse(n - 1) * 2 + leaf(n); }
__attribute__((noinline)) long framed(long a, long b) {
    long local[4] = {a, b, a + b, a - b};
    return local[a & 3] + leaf(local[b & 3]);
}
int main(int argc, char **argv) {
    (void)argv;
    printf("%ld\\n", big_frame(argc + 100) + dynamic(argc + 10) + recurse(argc + 5) + framed(argc, 2));
    return 0;
}
"""
