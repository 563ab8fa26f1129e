import BEAMLayouts
@testable import BEAMSymbolization
import ELF
import Foundation
import Testing

/// Detection on the machine's real VM: Debian's erlang-base beam.smp (scripts/install-deps.sh),
/// its addresses checked against `nm -D` and the static `r` against the exported
/// `the_staging_code_index` it precedes.
@Suite struct BEAMDetectionTests {
    static let files: [String] = {
        let root = "/usr/lib/erlang"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { $0.hasPrefix("erts-") }.map { "\(root)/\($0)/bin/beam.smp" }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }()

    static func elf(_ path: String) throws -> ELFFile {
        try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
    }

    /// A dynamic symbol's value as binutils' nm reads it.
    static func nmValue(_ symbol: String, in path: String) throws -> UInt64? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nm")
        process.arguments = ["-D", "--defined-only", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[2] == symbol { return UInt64(fields[0], radix: 16) }
        }
        return nil
    }

    @Test(arguments: files)
    func detectsTheInstalledVM(path: String) throws {
        guard case .virtualMachine(let vm) = try BEAMVirtualMachine.detect(in: Self.elf(path), path: path) else {
            Issue.record("\(path) not detected")
            return
        }
        #expect(path.contains("/erts-\(vm.ertsVersion)/"))
        #expect(vm.layout.ertsMajor == UInt8(vm.ertsVersion.prefix { $0 != "." }))
        #expect(vm.activeCodeIndexAddress == (try Self.nmValue("the_active_code_index", in: path)))
        #expect(vm.atomTableAddress == (try Self.nmValue("erts_atom_table", in: path)))
        #expect(vm.normalExitAddress == (try Self.nmValue("beam_normal_exit", in: path)))
        #expect(vm.schedulerDataAddress == (try Self.nmValue("erts_aligned_scheduler_data", in: path)))
        #expect(vm.schedulerCountAddress == (try Self.nmValue("erts_no_schedulers", in: path)))
        #expect(vm.frameLayoutAddress == (try Self.nmValue("erts_frame_layout", in: path)))
        #expect(vm.dirtySchedulerDataAddress == (try Self.nmValue("erts_aligned_dirty_cpu_scheduler_data", in: path)))
        #expect(vm.dirtySchedulerCountAddress == (try Self.nmValue("erts_no_dirty_cpu_schedulers", in: path)))
        let staging = try #require(try Self.nmValue("the_staging_code_index", in: path))
        #expect(vm.rangesAddress + UInt64(vm.layout.codeIndexCount) * UInt64(vm.layout.rangesSize) == staging)
    }

    @Test func theVersionComesFromTheERTSDirectory() {
        #expect(BEAMVirtualMachine.ertsVersion(inPath: "/usr/lib/erlang/erts-13.1.5/bin/beam.smp") == "13.1.5")
        #expect(BEAMVirtualMachine.ertsVersion(inPath: "/opt/app/erts-15.2/bin/beam.smp") == "15.2")
        #expect(BEAMVirtualMachine.ertsVersion(inPath: "/usr/local/bin/beam.smp") == nil)
        #expect(BEAMVirtualMachine.ertsVersion(inPath: "/x/erts-13.1.5-rc/bin/beam.smp") == nil)
        #expect(BEAMVirtualMachine.ertsVersion(inPath: "beam.smp") == nil)
    }

    @Test func anUnknownERTSMajorIsRefusedWithTheFix() throws {
        let path = try #require(Self.files.first)
        let renamed = "/opt/erlang/erts-99.0/bin/beam.smp"
        guard case .unsupported(let reason) = try BEAMVirtualMachine.detect(in: Self.elf(path), path: renamed) else {
            Issue.record("ERTS 99 accepted")
            return
        }
        #expect(reason.contains("ERTS 99.0") && reason.contains("scripts/beam-layouts.sh"))
    }

    @Test func otherFilesAreNotBEAM() throws {
        #expect(try BEAMVirtualMachine.detect(in: Self.elf("/bin/sh"), path: "/bin/sh") == .notBEAM)
    }

    /// `lea 0x2f402b(%rip),%rbx` at 0x1089ae (OTP 25's erts_end_staging_ranges) loads 0x3fc9e0;
    /// a `mov` with the same ModRM is not a load of an address.
    @Test func ripRelativeLeaTargets() {
        let code: [UInt8] = [0x55, 0x53, 0x48, 0x8D, 0x1D, 0x2B, 0x40, 0x2F, 0x00, 0x8B, 0x05, 0x85, 0x40, 0x2F, 0x00]
        #expect(BEAMVirtualMachine.ripRelativeLoads(in: code, at: 0x1089AC) == [0x3FC9E0])
        let negative: [UInt8] = [0x4C, 0x8D, 0x25, 0xF0, 0xFF, 0xFF, 0xFF]
        #expect(BEAMVirtualMachine.ripRelativeLoads(in: negative, at: 0x1000) == [0x0FF7])
    }

    @Test func theTableHasOTP25() throws {
        let (_, layout) = try #require(BEAMLayout.layout(ertsMajor: 13))
        #expect(layout.otpRelease == 25)
        #expect(layout.codeHeaderFunctions > layout.codeHeaderFunctionCount)
        #expect(layout.atomTag & ~layout.atomTagMask == 0)
    }
}
