import ELF
import Foundation
import PerlLayouts
import PerlSymbolization
import Testing

/// Detection on the machine's real perl: Debian's /usr/bin/perl (libperl linked in) and
/// its libperl.so, with `PL_thr_key`'s address checked against `nm` and the release
/// against what the perl itself says (`$^V`).
@Suite struct PerlDetectionTests {
    static let files = ["/usr/bin/perl", "/usr/lib/x86_64-linux-gnu/libperl.so.5.36"]
        .filter { FileManager.default.fileExists(atPath: $0) }

    static func elf(_ path: String) throws -> ELFFile {
        try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }

    /// A dynamic symbol's value as binutils' nm reads it.
    static func nmValue(_ symbol: String, in path: String) throws -> UInt64? {
        for line in try run("/usr/bin/nm", ["-D", "--defined-only", path]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[2] == symbol { return UInt64(fields[0], radix: 16) }
        }
        return nil
    }

    @Test(arguments: files)
    func detectsTheInstalledPerl(path: String) throws {
        let detection = try PerlInterpreter.detect(in: Self.elf(path))
        guard case .interpreter(let interpreter) = detection else {
            Issue.record("\(path): \(detection)")
            return
        }
        let said = try Self.run("/usr/bin/perl", ["-e", "printf '%vd', $^V"])
        #expect(interpreter.version.description == said)
        #expect(interpreter.threadKeyAddress == (try Self.nmValue("PL_thr_key", in: path)))
        #expect(PerlLayout.supported[interpreter.layoutIndex].version == interpreter.version)
    }

    @Test func otherFilesAreNotPerl() throws {
        #expect(try PerlInterpreter.detect(in: Self.elf("/bin/ls")) == .notPerl)
    }

    /// The committed table is what the probe prints against the installed headers now.
    @Test func layoutTableMatchesTheInstalledHeaders() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let core = "/usr/lib/x86_64-linux-gnu/perl/5.36/CORE"
        guard FileManager.default.fileExists(atPath: core + "/perl.h") else { return }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("perl-layout-probe-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: probe) }
        _ = try Self.run("/usr/bin/cc", ["-Wall", "-Werror", "-Wno-unused-function", "-D_REENTRANT", "-D_GNU_SOURCE",
                                         "-D_LARGEFILE_SOURCE", "-D_FILE_OFFSET_BITS=64", "-I" + core, "-o", probe,
                                         root.appendingPathComponent("scripts/perl-layouts/offsets.c").path])
        let printed = try Self.run(probe, [])
        let table = try String(contentsOf: root.appendingPathComponent("Sources/PerlLayouts/PerlLayoutTable.swift"), encoding: .utf8)
        #expect(!printed.isEmpty)
        #expect(table.contains(printed))
    }
}
