import AggregatorCore
import Foundation
import Testing
import WireFormat
#if canImport(Glibc)
import Glibc
#endif

/// The publisher names a process's BEAM VM to the sampler (control record 31) from its
/// mappings, with the VM's four addresses in the process, unless `tracers` leaves BEAM out.
/// Uses Debian's OTP 25 beam.smp (PIE: the mapping's bias moves the addresses).
@Suite(.enabled(if: FileManager.default.fileExists(atPath: "/usr/lib/erlang/erts-13.1.5/bin/beam.smp"), "needs erlang-base (OTP 25)"))
struct BEAMPublisherTests {
    static let vm = "/usr/lib/erlang/erts-13.1.5/bin/beam.smp"
    static let base: UInt64 = 0x5600_0000_0000

    static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output
    }

    /// A symbol's value in the VM's dynamic symbols, from binutils' `nm`.
    static func symbol(_ name: String) throws -> UInt64 {
        let output = try output("/usr/bin/nm", ["-D", "--defined-only", vm])
        let line = try #require(output.split(separator: "\n").first { $0.hasSuffix(" \(name)") })
        return try #require(UInt64(line.split(separator: " ")[0], radix: 16))
    }

    /// The executable LOAD segment's file offset and ELF address, from readelf.
    static func textSegment() throws -> (offset: UInt64, address: UInt64) {
        let output = try output("/usr/bin/readelf", ["-lW", vm])
        let line = try #require(output.split(separator: "\n").first { $0.contains("LOAD") && $0.contains("R E") })
        let fields = line.split(separator: " ")
        return (try #require(UInt64(fields[1].dropFirst(2), radix: 16)), try #require(UInt64(fields[2].dropFirst(2), radix: 16)))
    }

    static func textMapping() throws -> Mapping {
        var status = stat()
        try #require(stat(vm, &status) == 0)
        let segment = try textSegment()
        return Mapping(start: base + segment.address, end: base + segment.address + 0x30_0000, fileOffset: segment.offset,
                       device: UInt64(status.st_dev), inode: UInt64(status.st_ino), path: vm)
    }

    func published(walksBEAM: Bool) throws -> [BEAMProcess] {
        let writer = CollectingWriter()
        let cache = UnwindTableCache()
        let publisher = UnwindTablePublisher(cache: cache, channel: writer.channel(), logger: quietLogger)
        publisher.walksBEAM = walksBEAM
        publisher.noteMappings(Mappings(pid: 4242, mappings: [try Self.textMapping()]))
        publisher.noteSample(pid: 4242)
        cache.waitForPendingCompiles()
        publisher.poll()
        return try writer.records().compactMap { if case .beamProcess(let process) = $0 { process } else { nil } }
    }

    @Test func theVMIsNamedWithItsSevenAddresses() throws {
        let records = try published(walksBEAM: true)
        let mapping = try Self.textMapping()
        // r is static: the three module tables just below the exported the_staging_code_index.
        let expected = BEAMProcess(pid: 4242, ertsMajor: 13,
                                   activeCodeIndexAddress: Self.base + (try Self.symbol("the_active_code_index")),
                                   rangesAddress: Self.base + (try Self.symbol("the_staging_code_index")) - 3 * 32,
                                   atomTableAddress: Self.base + (try Self.symbol("erts_atom_table")),
                                   normalExitAddress: Self.base + (try Self.symbol("beam_normal_exit")),
                                   schedulerDataAddress: Self.base + (try Self.symbol("erts_aligned_scheduler_data")),
                                   schedulerCountAddress: Self.base + (try Self.symbol("erts_no_schedulers")),
                                   frameLayoutAddress: Self.base + (try Self.symbol("erts_frame_layout")),
                                   dirtySchedulerDataAddress: Self.base + (try Self.symbol("erts_aligned_dirty_cpu_scheduler_data")),
                                   dirtySchedulerCountAddress: Self.base + (try Self.symbol("erts_no_dirty_cpu_schedulers")),
                                   device: mapping.device, inode: mapping.inode)
        #expect(!records.isEmpty)
        #expect(records.allSatisfy { $0 == expected }, "\(records)")
    }

    @Test func tracersWithoutBEAMNameNoVM() throws {
        #expect(try published(walksBEAM: false).isEmpty)
    }
}
