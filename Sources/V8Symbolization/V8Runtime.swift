import ELF
import V8Layouts

/// A file that holds a V8 tandem can walk (`node`, `libnode.so.N`): its build and the
/// layout that reads it, and the address of one of its postmortem-metadata symbols, which
/// the sampler checks lies in a mapping of the file in the process (control record 23).
public struct V8Runtime: Hashable, Sendable {
    public var layoutIndex: Int
    /// `v8dbg_off_fp_function`'s ELF virtual address (the process's is this plus the load bias).
    public var metadataAddress: UInt64

    public var layout: V8Layout { V8Layout.supported[layoutIndex] }

    public init(layoutIndex: Int, metadataAddress: UInt64) {
        self.layoutIndex = layoutIndex
        self.metadataAddress = metadataAddress
    }
}

/// What `V8Runtime.detect(in:)` found in a file.
public enum V8RuntimeDetection: Hashable, Sendable {
    case runtime(V8Runtime)
    /// No V8 in the file (most files): nothing to log.
    case notV8
    /// A V8 tandem does not walk (another build, no postmortem metadata): the reason, for a log line.
    case unsupported(reason: String)
}

extension V8Runtime {
    static let metadataSymbol = "v8dbg_off_fp_function"
    static let versionSymbols = ["major", "minor", "build", "patch"].map { "_ZN2v88internal7Version6\($0)_E" }

    /// Looks at `elf`'s symbols and the version they hold. Throws only when the file itself
    /// cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> V8RuntimeDetection {
        let symbols = try ELFNamedSymbols.values(of: Set(versionSymbols + [metadataSymbol]), in: elf)
        let parts = try versionSymbols.map { name throws(ELFFileError) -> UInt32? in
            guard let address = symbols[name] else { return nil }
            return try int32(at: address, in: elf)
        }
        guard parts.allSatisfy({ $0 != nil }) else { return .notV8 }
        let (major, minor, build, patch) = (parts[0]!, parts[1]!, parts[2]!, parts[3]!)
        let described = "V8 \(major).\(minor).\(build).\(patch)"
        guard let metadataAddress = symbols[metadataSymbol] else {
            return .unsupported(reason: "\(described) without postmortem metadata (v8dbg_* symbols)")
        }
        guard elf.is64Bit else { return .unsupported(reason: "32-bit \(described): only 64-bit layouts are known") }
        let version = (major & 0xff) << 24 | (minor & 0xff) << 16 | (build & 0xffff)
        guard major <= 0xff, minor <= 0xff, build <= 0xffff,
              let index = V8Layout.supported.firstIndex(where: { $0.version == version && UInt32($0.patch) == patch })
        else {
            let known = V8Layout.supported.map(\.description).joined(separator: ", ")
            return .unsupported(reason: "\(described) has no layout here (\(known) have)")
        }
        return .runtime(V8Runtime(layoutIndex: index, metadataAddress: metadataAddress))
    }

    private static func int32(at address: UInt64, in elf: ELFFile) throws(ELFFileError) -> UInt32? {
        guard let range = elf.fileRange(ofVirtualAddress: address), range.available >= 4 else { return nil }
        let bytes = try elf.source.bytes(at: range.offset, count: 4, place: "V8 version")
        return UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
    }
}

extension V8Layout: CustomStringConvertible {
    /// "V8 11.3.244.8".
    public var description: String {
        "V8 \(version >> 24).\(version >> 16 & 0xff).\(version & 0xffff).\(patch)"
    }
}
