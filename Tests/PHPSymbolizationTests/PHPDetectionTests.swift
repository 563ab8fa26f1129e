import ELF
import Foundation
import PHPLayouts
@testable import PHPSymbolization
import Testing

/// Detection on the machine's real PHP: Debian's /usr/bin/php8.2 CLI, with
/// `executor_globals`' address checked against `nm` and the version against what the PHP
/// itself says (`PHP_VERSION`).
@Suite struct PHPDetectionTests {
    static let php = "/usr/bin/php8.2"
    static let files = [php].filter { FileManager.default.fileExists(atPath: $0) }

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
    func detectsTheInstalledPHP(path: String) throws {
        let detection = try PHPInterpreter.detect(in: Self.elf(path))
        guard case .interpreter(let interpreter) = detection else {
            Issue.record("\(path): \(detection)")
            return
        }
        let said = try Self.run(path, ["-n", "-r", "echo PHP_MAJOR_VERSION, '.', PHP_MINOR_VERSION;"])
        #expect(interpreter.version.description == said)
        #expect(interpreter.executorGlobalsAddress == (try Self.nmValue("executor_globals", in: path)))
        #expect(PHPLayout.supported[interpreter.layoutIndex].version == interpreter.version)
        // The JIT step's dispatch: a `jmp *(%r15)` in execute_ex, as objdump disassembles it, and
        // the CFA readelf's interpretation of the CFI gives there.
        guard let dispatch = interpreter.dispatch, let executor = try Self.nmValue("execute_ex", in: path) else {
            Issue.record("\(path): no dispatch jump found in execute_ex")
            return
        }
        let start = "0x" + String(dispatch.address, radix: 16)
        let end = "0x" + String(dispatch.address + 3, radix: 16)
        let disassembly = try Self.run("/usr/bin/objdump", ["-d", "--start-address=\(start)", "--stop-address=\(end)", path])
        #expect(disassembly.contains("jmp    *(%r15)"), "\(disassembly)")
        #expect(dispatch.address > executor)
        #expect(dispatch.cfaOffset == (try Self.readelfCFAOffset(at: dispatch.address, in: path)))
    }

    /// The CFA rule `rsp+N` of the row of `readelf --debug-dump=frames-interp` covering
    /// `address` (in the FDE whose `pc=start..end` holds it); nil when another kind of rule.
    static func readelfCFAOffset(at address: UInt64, in path: String) throws -> UInt32? {
        var inFDE = false
        var offset: UInt32?
        for line in try run("/usr/bin/readelf", ["--debug-dump=frames-interp", path]).split(separator: "\n") {
            if line.contains(" FDE "), let range = line.split(separator: "pc=").last {
                let bounds = range.split(separator: ".", omittingEmptySubsequences: true).compactMap { UInt64($0, radix: 16) }
                inFDE = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
                continue
            }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard inFDE, fields.count >= 2, fields[0].count == 16, let location = UInt64(fields[0], radix: 16),
                  location <= address else { continue }
            offset = fields[1].hasPrefix("rsp+") ? UInt32(fields[1].dropFirst(4)) : nil
        }
        return offset
    }

    /// `bytes` with every occurrence of `text` replaced by `replacement` (as long).
    static func patched(_ bytes: [UInt8], _ text: String, _ replacement: String) -> [UInt8] {
        let from = Array(text.utf8), to = Array(replacement.utf8)
        precondition(from.count == to.count)
        var bytes = bytes
        var index = 0
        while index + from.count <= bytes.count {
            if bytes[index] == from[0], Array(bytes[index..<index + from.count]) == from {
                bytes.replaceSubrange(index..<index + from.count, with: to)
                index += from.count
            } else {
                index += 1
            }
        }
        return bytes
    }

    /// An engine tandem does not walk is refused with a reason that says what to do.
    @Test(arguments: files)
    func unsupportedEnginesSayWhy(path: String) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let newer = try ELFFile(bytes: Self.patched(bytes, "X-Powered-By: PHP/8.2.", "X-Powered-By: PHP/8.9."), name: path)
        guard case .unsupported(let reason) = try PHPInterpreter.detect(in: newer) else {
            Issue.record("PHP 8.9 was not refused")
            return
        }
        #expect(reason.contains("8.9") && reason.contains("scripts/php-layouts.sh"), "\(reason)")
        // The globals' name changed: what a thread-safe build (executor_globals_offset instead) also lacks.
        let stripped = try ELFFile(bytes: Self.patched(bytes, "executor_globals\0", "executor_globalz\0"), name: path)
        guard case .unsupported(let missing) = try PHPInterpreter.detect(in: stripped) else {
            Issue.record("PHP without executor_globals was not refused")
            return
        }
        #expect(missing.contains("executor_globals"), "\(missing)")
    }

    @Test func otherFilesAreNotPHP() throws {
        #expect(try PHPInterpreter.detect(in: Self.elf("/bin/ls")) == .notPHP)
    }

    @Test func versionFollowsTheMarker() {
        let marker = PHPInterpreter.versionMarker
        let bytes = Array("junk X-Powered-By: PHX-Powered-By: PHP/8.3.1\0rest".utf8)
        #expect(PHPInterpreter.version(after: marker, in: bytes) == PHPVersion(major: 8, minor: 3))
        #expect(PHPInterpreter.version(after: marker, in: Array("X-Powered-By: PHP/8".utf8)) == nil)
        #expect(PHPInterpreter.version(after: marker, in: Array("X-Powered-By: PHP/".utf8)) == nil)
        #expect(PHPInterpreter.version(after: marker, in: Array("X-Powered-By: PHP/999.2.0".utf8)) == nil)
        #expect(PHPInterpreter.version(after: marker, in: []) == nil)
    }

    /// The committed table is what the probe prints against the installed headers now.
    @Test func layoutTableMatchesTheInstalledHeaders() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = "/usr/bin/php-config8.2"
        guard FileManager.default.fileExists(atPath: config) else { return }
        let includes = try Self.run(config, ["--includes"]).split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("php-layout-probe-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: probe) }
        _ = try Self.run("/usr/bin/cc", ["-Wall", "-Werror", "-Wno-unused-function"] + includes
                         + ["-o", probe, root.appendingPathComponent("scripts/php-layouts/offsets.c").path])
        let printed = try Self.run(probe, [])
        let table = try String(contentsOf: root.appendingPathComponent("Sources/PHPLayouts/PHPLayoutTable.swift"), encoding: .utf8)
        #expect(!printed.isEmpty)
        #expect(table.contains(printed))
    }

    /// Every offset the walker reads stays inside the copies it makes (bpf/tandem_php.h):
    /// 64 bytes of a zend_execute_data, 192 of a zend_function.
    @Test func layoutsFitTheWalkersCopies() {
        for layout in PHPLayout.supported {
            for offset in [layout.executeDataOpline, layout.executeDataFunction, layout.executeDataPrevious] {
                #expect(offset + 8 <= 64)
            }
            #expect(layout.executeDataThisTypeInfo + 4 <= 64)
            for offset in [layout.functionName, layout.functionScope, layout.opArrayFileName, layout.opArrayOpcodes] {
                #expect(offset + 8 <= 192)
            }
            #expect(layout.opArrayLineStart + 4 <= 192 && layout.opArrayLast + 4 <= 192)
            #expect(layout.opSize > layout.opLineNumber + 3)
            #expect(layout.functionType < 192)
        }
    }
}
