import BEAMLayouts
import ELF

/// A `beam.smp` tandem can walk (docs/beam.md): where the VM keeps its module table, atoms and
/// the bottom of its stacks, and which layout reads them. Addresses are ELF virtual addresses:
/// the process's are these plus the file's load bias.
public struct BEAMVirtualMachine: Hashable, Sendable {
    /// The ERTS version the file's directory names (`13.1.5` of `…/erts-13.1.5/bin/beam.smp`).
    public var ertsVersion: String
    /// The index of the ERTS major's layout in `BEAMLayout.supported`: what control record 31 names.
    public var layoutIndex: Int
    /// `the_active_code_index` (32-bit): which of the module tables in `ranges` is in use.
    public var activeCodeIndexAddress: UInt64
    /// `r` (beam_ranges.c, static): one module table per code index.
    public var rangesAddress: UInt64
    /// `erts_atom_table`: module and function names.
    public var atomTableAddress: UInt64
    /// `beam_normal_exit`: holds the continuation pointer at the bottom of every Erlang stack.
    public var normalExitAddress: UInt64
    /// `erts_aligned_scheduler_data`: points to the normal schedulers' data, whose
    /// `registers` and `current_process` lead a C leaf to its Erlang stack ("C leaves").
    public var schedulerDataAddress: UInt64
    /// `erts_no_schedulers` (64-bit): how many normal schedulers there are.
    public var schedulerCountAddress: UInt64
    /// `erts_frame_layout` (32-bit): 0 when JIT code keeps no frame pointers (the default).
    public var frameLayoutAddress: UInt64
    /// `erts_aligned_dirty_cpu_scheduler_data`: points to the dirty CPU schedulers' data, whose
    /// `current_process` is the process a dirty scheduler works for (its garbage collection).
    public var dirtySchedulerDataAddress: UInt64
    /// `erts_no_dirty_cpu_schedulers` (64-bit): how many dirty CPU schedulers there are.
    public var dirtySchedulerCountAddress: UInt64

    public var layout: BEAMLayout { BEAMLayout.supported[layoutIndex] }

    public init(ertsVersion: String, layoutIndex: Int, activeCodeIndexAddress: UInt64, rangesAddress: UInt64,
                atomTableAddress: UInt64, normalExitAddress: UInt64, schedulerDataAddress: UInt64,
                schedulerCountAddress: UInt64, frameLayoutAddress: UInt64, dirtySchedulerDataAddress: UInt64,
                dirtySchedulerCountAddress: UInt64) {
        self.ertsVersion = ertsVersion
        self.layoutIndex = layoutIndex
        self.activeCodeIndexAddress = activeCodeIndexAddress
        self.rangesAddress = rangesAddress
        self.atomTableAddress = atomTableAddress
        self.normalExitAddress = normalExitAddress
        self.schedulerDataAddress = schedulerDataAddress
        self.schedulerCountAddress = schedulerCountAddress
        self.frameLayoutAddress = frameLayoutAddress
        self.dirtySchedulerDataAddress = dirtySchedulerDataAddress
        self.dirtySchedulerCountAddress = dirtySchedulerCountAddress
    }
}

/// What `BEAMVirtualMachine.detect(in:path:)` found in a file.
public enum BEAMDetection: Hashable, Sendable {
    case virtualMachine(BEAMVirtualMachine)
    /// No BEAM VM in the file (most files): nothing to log.
    case notBEAM
    /// A VM tandem does not walk (no layout for its ERTS, a build whose module table cannot be
    /// found): the reason, for a log line.
    case unsupported(reason: String)
}

extension BEAMVirtualMachine {
    static let activeCodeIndexSymbol = "the_active_code_index"
    /// Exported, and right after the static `r` in every build looked at: the check that the
    /// address decoded for `r` is right.
    static let stagingCodeIndexSymbol = "the_staging_code_index"
    static let atomTableSymbol = "erts_atom_table"
    static let normalExitSymbol = "beam_normal_exit"
    static let schedulerDataSymbol = "erts_aligned_scheduler_data"
    static let schedulerCountSymbol = "erts_no_schedulers"
    static let frameLayoutSymbol = "erts_frame_layout"
    static let dirtySchedulerDataSymbol = "erts_aligned_dirty_cpu_scheduler_data"
    static let dirtySchedulerCountSymbol = "erts_no_dirty_cpu_schedulers"
    /// Exported; its first rip-relative `lea` loads `r`, which `.dynsym` lacks (it is static).
    static let endStagingRangesSymbol = "erts_end_staging_ranges"
    /// Bytes of `erts_end_staging_ranges` searched for that `lea` (it is the sixth instruction
    /// in OTP 25).
    static let leaSearchBytes = 64

    /// Looks at `elf`'s exported symbols and code, and at `path` for the ERTS version. Throws
    /// only when the file itself cannot be read.
    public static func detect(in elf: ELFFile, path: String) throws(ELFFileError) -> BEAMDetection {
        let symbols = try ELFNamedSymbols.values(
            of: [activeCodeIndexSymbol, stagingCodeIndexSymbol, atomTableSymbol, normalExitSymbol, endStagingRangesSymbol,
                 schedulerDataSymbol, schedulerCountSymbol, frameLayoutSymbol, dirtySchedulerDataSymbol,
                 dirtySchedulerCountSymbol],
            in: elf)
        guard let activeCodeIndex = symbols[activeCodeIndexSymbol], let endStaging = symbols[endStagingRangesSymbol] else {
            return .notBEAM
        }
        guard let staging = symbols[stagingCodeIndexSymbol], let atoms = symbols[atomTableSymbol],
              let normalExit = symbols[normalExitSymbol], let schedulerData = symbols[schedulerDataSymbol],
              let schedulerCount = symbols[schedulerCountSymbol], let frameLayout = symbols[frameLayoutSymbol],
              let dirtySchedulerData = symbols[dirtySchedulerDataSymbol],
              let dirtySchedulerCount = symbols[dirtySchedulerCountSymbol]
        else {
            let names = [stagingCodeIndexSymbol, atomTableSymbol, normalExitSymbol, schedulerDataSymbol, schedulerCountSymbol,
                         frameLayoutSymbol, dirtySchedulerDataSymbol, dirtySchedulerCountSymbol]
            return .unsupported(reason: "a BEAM VM without one of the exports \(names.joined(separator: ", "))")
        }
        guard elf.is64Bit else { return .unsupported(reason: "a 32-bit BEAM VM: only 64-bit layouts are known") }
        guard let version = ertsVersion(inPath: path), let major = UInt8(version.prefix { $0 != "." }) else {
            return .unsupported(reason: "a BEAM VM outside an erts-VERSION directory (\(path)): its ERTS version is unknown")
        }
        guard let (layoutIndex, layout) = BEAMLayout.layout(ertsMajor: major) else {
            let supported = BEAMLayout.supported.map { "ERTS \($0.ertsMajor) (OTP \($0.otpRelease))" }.joined(separator: ", ")
            return .unsupported(reason: "ERTS \(version) has no layout here (\(supported) do): add its row to scripts/beam-layouts.sh")
        }
        let tableBytes = UInt64(layout.codeIndexCount) * UInt64(layout.rangesSize)
        guard let ranges = try ripRelativeLoads(in: elf, at: endStaging).first(where: { $0 &+ tableBytes == staging }) else {
            return .unsupported(reason: "ERTS \(version): no load of the module table (r) found in \(endStagingRangesSymbol)")
        }
        return .virtualMachine(BEAMVirtualMachine(
            ertsVersion: version, layoutIndex: layoutIndex, activeCodeIndexAddress: activeCodeIndex,
            rangesAddress: ranges, atomTableAddress: atoms, normalExitAddress: normalExit,
            schedulerDataAddress: schedulerData, schedulerCountAddress: schedulerCount, frameLayoutAddress: frameLayout,
            dirtySchedulerDataAddress: dirtySchedulerData, dirtySchedulerCountAddress: dirtySchedulerCount))
    }

    /// `13.1.5` of a path whose directory is `…/erts-13.1.5/bin`.
    static func ertsVersion(inPath path: String) -> String? {
        let components = path.split(separator: "/")
        guard components.count >= 3, components[components.count - 2] == "bin" else { return nil }
        let directory = components[components.count - 3]
        guard directory.hasPrefix("erts-") else { return nil }
        let version = directory.dropFirst("erts-".count)
        guard !version.isEmpty, version.allSatisfy({ $0.isNumber || $0 == "." }) else { return nil }
        return String(version)
    }

    /// The targets of the `lea disp32(%rip), reg64` byte patterns (REX.W 8D, ModRM mod 00 rm 101)
    /// in the first `leaSearchBytes` bytes of the code at `address`. A byte search, not a
    /// decoder: the caller accepts only a target that passes its own check.
    static func ripRelativeLoads(in elf: ELFFile, at address: UInt64) throws(ELFFileError) -> [UInt64] {
        guard let range = elf.fileRange(ofVirtualAddress: address), range.available >= 7 else { return [] }
        let count = Int(min(UInt64(leaSearchBytes), range.available))
        var bytes = [UInt8](repeating: 0, count: count)
        try elf.source.read(into: &bytes, count: count, at: range.offset)
        return ripRelativeLoads(in: bytes, at: address)
    }

    static func ripRelativeLoads(in bytes: [UInt8], at address: UInt64) -> [UInt64] {
        var targets: [UInt64] = []
        var position = 0
        while position + 7 <= bytes.count {
            let rex = bytes[position]
            if rex & 0xF8 == 0x48, bytes[position + 1] == 0x8D, bytes[position + 2] & 0xC7 == 0x05 {
                let displacement = bytes[position + 3..<position + 7].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let next = address &+ UInt64(position + 7)
                targets.append(next &+ UInt64(bitPattern: Int64(Int32(bitPattern: displacement))))
            }
            position += 1
        }
        return targets
    }
}
