import CTandemSymbolization
#if canImport(Glibc)
import Glibc
#endif

/// The source language a symbol name was mangled for.
public enum SymbolLanguage: Sendable, Hashable {
    /// Not mangled (C, Go, assembly), or a scheme we do not know: shown as is.
    case unmangled
    case cxx
    case rust
    case swift
}

/// A symbol name ready for display, and the language its mangling revealed.
public struct DemangledName: Sendable, Hashable {
    public var name: String
    public var language: SymbolLanguage

    public init(name: String, language: SymbolLanguage) {
        self.name = name
        self.language = language
    }
}

/// Turns linker symbol names into source-level names: Itanium C++ (libstdc++'s
/// `__cxa_demangle`), Rust legacy and v0 (our own decoders), Swift (the Swift
/// runtime's `swift_demangle`). A name no demangler accepts is returned unchanged.
public enum Demangler {
    public static func demangle(_ symbol: String) -> DemangledName {
        let utf8 = symbol.utf8
        guard let first = utf8.first, first == UInt8(ascii: "_") || first == UInt8(ascii: "$") else {
            return DemangledName(name: symbol, language: .unmangled)
        }
        if symbol.hasPrefix("_R") || symbol.hasPrefix("__R") {
            if let name = RustV0Demangler.demangle(symbol) { return DemangledName(name: name, language: .rust) }
            return DemangledName(name: symbol, language: .unmangled)
        }
        if symbol.hasPrefix("_Z") || symbol.hasPrefix("__Z") {
            if let name = RustLegacyDemangler.demangle(symbol) { return DemangledName(name: name, language: .rust) }
            if let name = demangleCXX(symbol) { return DemangledName(name: name, language: .cxx) }
            return DemangledName(name: symbol, language: .unmangled)
        }
        if isSwiftMangled(symbol), let name = demangleSwift(symbol) {
            return DemangledName(name: name, language: .swift)
        }
        return DemangledName(name: symbol, language: .unmangled)
    }

    /// Itanium C++ through `__cxa_demangle` (libstdc++).
    public static func demangleCXX(_ symbol: String) -> String? {
        var status: Int32 = 0
        guard let result = tandem_cxa_demangle(symbol, &status) else { return nil }
        defer { free(result) }
        return status == 0 ? String(cString: result) : nil
    }

    static func isSwiftMangled(_ symbol: String) -> Bool {
        for prefix in ["$s", "_$s", "$S", "_$S", "$e", "_$e", "_T0"] where symbol.hasPrefix(prefix) { return true }
        return false
    }

    /// Swift through the runtime's `swift_demangle` (libswiftCore).
    public static func demangleSwift(_ symbol: String) -> String? {
        var symbol = symbol
        return symbol.withUTF8 { bytes -> String? in
            guard let base = bytes.baseAddress else { return nil }
            let pointer = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            guard let result = tandem_swift_demangle(pointer, bytes.count) else { return nil }
            defer { free(result) }
            return String(cString: result)
        }
    }
}
