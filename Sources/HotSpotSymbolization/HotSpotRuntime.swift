import ELF
import HotSpotLayouts

/// A libjvm.so tandem can walk: its JDK version, the layout that reads its structures, and
/// the link-time addresses of the globals the walker starts from (a process's address is
/// one of these plus the file's load bias).
public struct HotSpotRuntime: Hashable, Sendable {
    /// `Abstract_VM_Version::_vm_major_version` (17 for 17.0.15).
    public var featureVersion: Int
    /// `Abstract_VM_Version::_vm_security_version` (15 for 17.0.15), for log lines.
    public var securityVersion: Int
    /// The index of the version's layout in `HotSpotLayout.supported`: what control record 21 names.
    public var layoutIndex: Int
    /// `CodeCache::_heaps` (a `GrowableArray<CodeHeap*>*`, in `.bss`): the code heaps'
    /// bounds and segment maps, which find the code blob of a pc.
    public var codeCacheHeapsAddress: UInt64
    /// `StubRoutines::_call_stub_return_address` (an `address`, in `.bss`): where Java frames
    /// return into the call stub, below which the stack is the VM's C++ again.
    public var callStubReturnAddressAddress: UInt64

    public var layout: HotSpotLayout { HotSpotLayout.supported[layoutIndex] }

    public init(featureVersion: Int, securityVersion: Int, layoutIndex: Int, codeCacheHeapsAddress: UInt64,
                callStubReturnAddressAddress: UInt64) {
        self.featureVersion = featureVersion
        self.securityVersion = securityVersion
        self.layoutIndex = layoutIndex
        self.codeCacheHeapsAddress = codeCacheHeapsAddress
        self.callStubReturnAddressAddress = callStubReturnAddressAddress
    }
}

/// What `HotSpotRuntime.detect(in:)` found in a file.
public enum HotSpotRuntimeDetection: Hashable, Sendable {
    case runtime(HotSpotRuntime)
    /// No HotSpot in the file (most files): nothing to log.
    case notHotSpot
    /// A HotSpot tandem does not walk (another JDK feature version, 32-bit, another
    /// architecture) or whose tables it could not read: the reason, for a log line.
    case unsupported(reason: String)
}

extension HotSpotRuntime {
    private static let tableSymbol = "gHotSpotVMStructs"
    private static let heaps = "CodeCache::_heaps"
    private static let callStubReturnAddress = "StubRoutines::_call_stub_return_address"
    private static let majorVersion = "Abstract_VM_Version::_vm_major_version"
    private static let securityVersion = "Abstract_VM_Version::_vm_security_version"
    private static let machineX86_64: UInt16 = 62

    /// Looks for `gHotSpotVMStructs` among `elf`'s symbols and reads the static fields the
    /// walker needs from the table it points to. Throws only when the file itself cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> HotSpotRuntimeDetection {
        guard let tableAddress = try ELFNamedSymbols.values(of: [tableSymbol], in: elf)[tableSymbol] else {
            return .notHotSpot
        }
        guard elf.is64Bit, elf.machine == machineX86_64 else {
            return .unsupported(reason: "HotSpot for another architecture: only x86-64 frames are walked")
        }
        let shapes = Set(HotSpotLayout.supported.map(\.entryShape))
        guard shapes.count == 1, let shape = shapes.first else {
            return .unsupported(reason: "the compiled HotSpot layouts disagree on the vmStructs entry shape")
        }
        var file = HotSpotVMStructsFile(elf: elf)
        do throws(HotSpotDetectionError) {
            let addresses = try file.staticAddresses(
                wanted: [heaps, callStubReturnAddress, majorVersion, securityVersion], tableAddress: tableAddress,
                shape: shape)
            guard let majorAddress = addresses[majorVersion], let major = try file.int32(at: majorAddress), major > 0 else {
                return .unsupported(reason: "HotSpot whose version its vmStructs table does not give")
            }
            let security = try addresses[securityVersion].flatMap { address throws(HotSpotDetectionError) in
                try file.int32(at: address)
            } ?? 0
            guard let layoutIndex = HotSpotLayout.index(ofFeatureVersion: Int(major)) else {
                return .unsupported(reason: "HotSpot \(major) is not supported (\(HotSpotLayout.supportedFeatureVersions) are)")
            }
            guard let heapsAddress = addresses[heaps], let stubAddress = addresses[callStubReturnAddress] else {
                return .unsupported(reason: "HotSpot \(major)'s vmStructs table lacks \(heaps) or \(callStubReturnAddress)")
            }
            return .runtime(HotSpotRuntime(
                featureVersion: Int(major), securityVersion: Int(security), layoutIndex: layoutIndex,
                codeCacheHeapsAddress: heapsAddress, callStubReturnAddressAddress: stubAddress))
        } catch {
            if case .file(let fileError) = error { throw fileError }
            return .unsupported(reason: error.description)
        }
    }
}

extension HotSpotLayout {
    var entryShape: HotSpotVMStructsFile.EntryShape {
        .init(stride: Int(structEntryStride), typeName: Int(structEntryTypeName), fieldName: Int(structEntryFieldName),
              isStatic: Int(structEntryIsStatic), address: Int(structEntryAddress))
    }
}
