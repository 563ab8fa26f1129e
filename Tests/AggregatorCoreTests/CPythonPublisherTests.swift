import AggregatorCore
import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a process's CPython interpreter to the sampler (control record 19)
/// from its mappings, with `_PyRuntime`'s address in the process, unless `tracers` leaves
/// Python out. Uses Debian's /usr/bin/python3.11 (static libpython, not PIE), which the
/// image has (DESIGN.md).
@Suite struct CPythonPublisherTests {
    static let interpreter = "/usr/bin/python3.11"

    /// `_PyRuntime`'s value in the interpreter's dynamic symbols, from binutils' `nm`.
    static func runtimeSymbol() throws -> UInt64 {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        process.arguments = ["-D", "--defined-only", interpreter]
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let line = try #require(output.split(separator: "\n").first { $0.hasSuffix(" _PyRuntime") })
        return try #require(UInt64(line.split(separator: " ")[0], radix: 16))
    }

    /// The interpreter's text mapped where a non-PIE executable maps it (bias 0).
    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(interpreter, &status) == 0)
        return Mapping(start: 0x41d000, end: 0x6e0000, fileOffset: 0x1d000, device: UInt64(status.st_dev),
                       inode: UInt64(status.st_ino), path: interpreter)
    }

    func published(walksCPython: Bool) throws -> [CPythonProcess] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksCPython = walksCPython
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .cpythonProcess(let process) = $0 { process } else { nil } }
    }

    @Test func theInterpreterIsNamedWithItsRuntimeAddress() throws {
        let records = try published(walksCPython: true)
        let mapping = try Self.textMapping()
        let expected = CPythonProcess(pid: 4242, pythonVersion: 0x030b, runtimeAddress: try Self.runtimeSymbol(),
                                      device: mapping.device, inode: mapping.inode)
        #expect(!records.isEmpty)
        #expect(records.allSatisfy { $0 == expected }, "\(records)")
    }

    @Test func tracersWithoutPythonNameNoInterpreter() throws {
        #expect(try published(walksCPython: false).isEmpty)
    }
}
