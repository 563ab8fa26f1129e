import ELF
import Foundation
import HotSpotLayouts
import HotSpotSymbolization
import Testing

/// The generated table against the installed JDK's own vmStructs, and detection of its libjvm.so.
@Suite struct HotSpotLayoutTableTests {
    @Test func oneLayoutPerFeatureVersion() {
        let versions = HotSpotLayout.supported.map(\.featureVersion)
        #expect(Set(versions).count == versions.count)
        #expect(HotSpotLayout.index(ofFeatureVersion: 17) != nil)
        #expect(HotSpotLayout.index(ofFeatureVersion: 8) == nil)
    }

    @Test(.enabled(if: LoadedVMStructs.installed))
    func layoutIsTheInstalledJVMsOwn() throws {
        let loaded = try LoadedVMStructs()
        let layout = try #require(HotSpotLayout.supported.first { $0.featureVersion == 17 })
        let fields: [(String, UInt16)] = [
            ("CodeHeap::_memory", layout.codeHeapMemory), ("CodeHeap::_segmap", layout.codeHeapSegmentMap),
            ("CodeHeap::_log2_segment_size", layout.codeHeapLog2SegmentSize), ("VirtualSpace::_low", layout.virtualSpaceLow),
            ("VirtualSpace::_high", layout.virtualSpaceHigh), ("CodeBlob::_frame_size", layout.codeBlobFrameSize),
            ("CodeBlob::_name", layout.codeBlobName), ("CompiledMethod::_method", layout.compiledMethodMethod),
            ("nmethod::_compile_id", layout.nmethodCompileID), ("nmethod::_scopes_pcs_offset", layout.nmethodScopesPCsOffset),
            ("Method::_constMethod", layout.methodConstMethod), ("ConstMethod::_constants", layout.constMethodConstants),
            ("ConstMethod::_name_index", layout.constMethodNameIndex), ("ConstMethod::_code_size", layout.constMethodCodeSize),
            ("ConstantPool::_pool_holder", layout.constantPoolPoolHolder), ("Klass::_name", layout.klassName),
            ("Symbol::_length", layout.symbolLength), ("Symbol::_body", layout.symbolBody),
        ]
        for (name, value) in fields {
            #expect(loaded.offset(name) == UInt64(value), "\(name)")
        }
        #expect(loaded.typeSizes["ConstMethod"] == UInt64(layout.constMethodSize))
        #expect(loaded.typeSizes["ConstantPool"] == UInt64(layout.constantPoolSize))
        #expect(loaded.intConstants["frame::interpreter_frame_sender_sp_offset"] == Int32(layout.interpreterFrameSenderSP))
        #expect(loaded.intConstants["ConstMethod::_has_linenumber_table"] == Int32(layout.constMethodHasLineNumberTable))
    }

    /// The file reader finds the statics where the loaded library has them, and the version.
    @Test(.enabled(if: LoadedVMStructs.installed))
    func detectsTheInstalledLibJVM() throws {
        let path = LoadedVMStructs.libraryPath
        let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
        guard case .runtime(let runtime) = try HotSpotRuntime.detect(in: elf) else {
            Issue.record("libjvm.so not detected")
            return
        }
        let loaded = try LoadedVMStructs()
        #expect(runtime.featureVersion == 17)
        #expect(runtime.securityVersion > 0)
        #expect(runtime.layout.featureVersion == 17)
        #expect(runtime.codeCacheHeapsAddress == loaded.linkAddress("CodeCache::_heaps"))
        #expect(runtime.callStubReturnAddressAddress == loaded.linkAddress("StubRoutines::_call_stub_return_address"))
    }

    @Test func otherFilesAreNotHotSpot() throws {
        for path in ["/bin/true", "/usr/lib/x86_64-linux-gnu/libc.so.6"] where FileManager.default.fileExists(atPath: path) {
            let elf = try ELFFile(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), name: path)
            #expect(try HotSpotRuntime.detect(in: elf) == .notHotSpot, "\(path)")
        }
    }
}
