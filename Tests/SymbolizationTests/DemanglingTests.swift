import Foundation
import Profiles
import Testing
import WireFormat
@testable import Symbolization

@Suite("Demangling compiler-produced names")
struct DemanglingTests {
    @Test("C++ (g++) names demangle through __cxa_demangle")
    func cxx() throws {
        let directory = try TemporaryDirectory()
        let object = directory.file("cxx.o")
        try run(["g++", "-c", "-O1", "-o", object, Fixtures.source("cxx_names.cpp")])
        let names = Dictionary(try textSymbols(object).map { (Demangler.demangle($0).name, Demangler.demangle($0)) }) { a, _ in a }
        #expect(names["tandem::Widget<int>::measure(long) const"]?.language == .cxx)
        #expect(names["tandem::free_function(std::vector<int, std::allocator<int> > const&)"]?.language == .cxx)
        #expect(names["tandem::describe[abi:cxx11](char const*, int)"]?.language == .cxx)
        // A plain C name is not touched.
        #expect(Demangler.demangle("tandem_use_names") == DemangledName(name: "tandem_use_names", language: .unmangled))
        #expect(Demangler.demangle("_Zinvalid").name == "_Zinvalid")
    }

    private func rustSymbols(mangling: String) throws -> [String: String] {
        let directory = try TemporaryDirectory()
        let binary = directory.file("rust_fixture")
        // Legacy is rustc's default (and naming it needs -Z unstable-options on stable).
        try run(["rustc", "-O", "--crate-name", "rust_fixture"] + (mangling == "v0" ? ["-C", "symbol-mangling-version=v0"] : [])
                + ["-o", binary, Fixtures.source("rust_fixture.rs")])
        var names: [String: String] = [:]
        for symbol in try textSymbols(binary) where symbol.contains("rust_fixture") {
            let demangled = Demangler.demangle(symbol)
            if demangled.language == .rust { names[demangled.name] = symbol }
        }
        return names
    }

    @Test("Rust legacy names (_ZN…17h<hash>E) lose the hash and their escapes")
    func rustLegacy() throws {
        let names = try rustSymbols(mangling: "legacy")
        #expect(names["rust_fixture::plain_function"] != nil)
        #expect(names["rust_fixture::generic_function"] != nil)
        #expect(names["rust_fixture::Widget<T>::measure"] != nil)
        #expect(names["<rust_fixture::Widget<u32> as rust_fixture::Shape>::area"] != nil)
        #expect(RustLegacyDemangler.demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE.llvm.123") == "core::ptr::drop_in_place")
        #expect(RustLegacyDemangler.demangle("_ZN3foo3barEv") == nil)  // C++, not Rust
        // The suffix starts at the first whole `.llvm.`, past a partial one.
        #expect(RustLegacyDemangler.demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE.llv.llvm.7") == "core::ptr::drop_in_place")
        #expect(RustLegacyDemangler.demangle("_ZN4core3ptr13drop_in_place17h0123456789abcdefE.llvm.") == "core::ptr::drop_in_place")
        #expect(RustLegacyDemangler.demangle("_ZN3foo3barEv.llvm.42") == nil)
    }

    @Test("Rust v0 names (_R…) with generics, impls, trait impls and closures")
    func rustV0() throws {
        let names = try rustSymbols(mangling: "v0")
        #expect(names["rust_fixture::plain_function"] != nil)
        #expect(names["rust_fixture::generic_function::<u32>"] != nil)
        #expect(names["<rust_fixture::Widget<u32>>::measure"] != nil)
        #expect(names["<rust_fixture::Widget<u32> as rust_fixture::Shape>::area"] != nil)
        #expect(names.keys.contains { $0.hasPrefix("std::rt::lang_start::<()>::{closure#0}") })
    }

    @Test("Rust v0 decoder agrees with binutils (nm -C) on every v0 symbol of a Rust binary",
          arguments: ["rust_fixture.rs", "rust_variety.rs"])
    func rustV0AgreesWithBinutils(source: String) throws {
        let directory = try TemporaryDirectory()
        let binary = directory.file("rust_binary")
        try run(["rustc", "-O", "-C", "symbol-mangling-version=v0", "-o", binary, Fixtures.source(source)])
        let mangled = try run(["nm", binary]).split(separator: "\n").map { $0.split(separator: " ") }
        let demangled = try run(["nm", "-C", binary]).split(separator: "\n").map { $0.split(separator: " ", maxSplits: 2) }
        #expect(mangled.count == demangled.count)
        var compared = 0
        var decoded = 0
        for (raw, expected) in zip(mangled, demangled) where raw.count == 3 && expected.count == 3 {
            let symbol = String(raw[2])
            guard symbol.hasPrefix("_R") else { continue }
            compared += 1
            guard let ours = RustV0Demangler.demangle(symbol) else { continue }
            decoded += 1
            #expect(ours == String(expected[2]), "\(symbol)")
        }
        // (Fewer with a toolchain whose std is legacy-mangled: only this crate's instances.)
        #expect(compared > 10)
        #expect(decoded == compared)
        if source == "rust_variety.rs" {
            // Non-ASCII identifiers are Punycode-encoded.
            let names = Set(mangled.compactMap { $0.count == 3 ? RustV0Demangler.demangle(String($0[2])) : nil })
            #expect(names.contains("rust_variety::grüße_für_alle"))
            #expect(names.contains("rust_variety::计算"))
        }
    }

    @Test("Rust v0 decoder rejects malformed input without crashing",
          arguments: ["_R", "_RNv", "_RNvC", "_RNvCs_3foo", "_RB_", "_RINvC3foo3barBz_E", "_RNvC3foo3barXYZ",
                      "_RNvC3foou3_A_B", "_RNvC3foou2zz", "_RIC3fooKc110000_E", String(repeating: "_RIC3foo", count: 1)
                          + String(repeating: "S", count: 5000)])
    func rustV0Malformed(symbol: String) {
        #expect(RustV0Demangler.demangle(symbol) == nil)
    }

    @Test("Swift names demangle through the Swift runtime's swift_demangle")
    func swift() throws {
        let directory = try TemporaryDirectory()
        let object = directory.file("swift.o")
        try run(["swiftc", "-parse-as-library", "-module-name", "SwiftFixture", "-c", "-o", object,
                 Fixtures.source("swift_names.swift")])
        let names = Set(try textSymbols(object).map { Demangler.demangle($0) })
        #expect(names.contains(DemangledName(name: "SwiftFixture.tandemSwiftFunction(Swift.Int) -> Swift.Int", language: .swift)))
        #expect(names.contains(DemangledName(name: "SwiftFixture.TandemWidget.measure(factor: Swift.Int) -> Swift.Int",
                                             language: .swift)))
    }
}

@Suite("Rust frames")
struct RustFrameTests {
    @Test("Frames of a running Rust binary are named and typed .rust", arguments: ["legacy", "v0"])
    func rustBinary(mangling: String) throws {
        let directory = try TemporaryDirectory()
        let binary = directory.file("rust_fixture")
        try run(["rustc", "-O", "-g", "--crate-name", "rust_fixture"]
                + (mangling == "v0" ? ["-C", "symbol-mangling-version=v0"] : [])
                + ["-o", binary, Fixtures.source("rust_fixture.rs")])
        let process = try FixtureProcess(executable: binary)
        defer { process.finish() }
        let symbolizer = Symbolizer(options: .init(debugDirectories: []), logger: testLogger())
        symbolizer.apply(.process(try process.processInfo()))
        symbolizer.apply(.mappings(try process.mappings()))
        let frames = symbolizer.symbolize(Sample(time: 1, pid: process.pid, tid: process.pid, cpu: 0, kernelStack: [],
                                                 userStack: [try process.address("plain_function"),
                                                             try process.address("area") + 1])).frames
        #expect(frames.map(\.functionName) == ["rust_fixture::plain_function",
                                               "<rust_fixture::Widget<u32> as rust_fixture::Shape>::area"])
        #expect(frames.map(\.type) == [.rust, .rust])
    }
}
