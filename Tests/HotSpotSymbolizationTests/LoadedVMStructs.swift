import Foundation
import HotSpotLayouts

/// The installed JDK's libjvm.so loaded into the test process (no JVM is created: only its
/// constructors run, which fill the vmStructs tables) and its tables read in memory: the
/// JVM's own answer that the generated layout and the file reader are checked against.
struct LoadedVMStructs {
    static let jdk = "/usr/lib/jvm/java-17-openjdk-amd64"
    static let libraryPath = jdk + "/lib/server/libjvm.so"
    static var installed: Bool { FileManager.default.fileExists(atPath: libraryPath) }

    /// `Type::field` → offset (non-static) or run-time address (static).
    var fields: [String: (isStatic: Bool, offset: UInt64, address: UInt64)] = [:]
    var typeSizes: [String: UInt64] = [:]
    var intConstants: [String: Int32] = [:]
    /// Where the library is loaded: a static's link-time address is its address less this.
    var base: UInt64 = 0

    init() throws {
        guard let library = dlopen(Self.libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            throw LoadError(message: String(cString: dlerror()))
        }
        func global(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let symbol = dlsym(library, name) else { throw LoadError(message: "no \(name)") }
            return symbol
        }
        func word(_ name: String) throws -> Int { Int(try global(name).load(as: UInt64.self)) }
        func text(_ entry: UnsafeRawPointer, _ offset: Int) -> String? {
            entry.load(fromByteOffset: offset, as: UnsafePointer<CChar>?.self).map { String(cString: $0) }
        }
        // The mapping of the file's first page (offset 0) starts at the load base.
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        guard let line = maps.split(separator: "\n").first(where: {
                  $0.hasSuffix(Self.libraryPath) && $0.split(separator: " ")[2] == "00000000"
              }),
              let start = UInt64(line.prefix { $0 != "-" }, radix: 16)
        else { throw LoadError(message: "libjvm.so is not in /proc/self/maps") }
        self.base = start

        var entry = UnsafeRawPointer(try global("gHotSpotVMStructs").load(as: UnsafeRawPointer.self))
        let stride = try word("gHotSpotVMStructEntryArrayStride")
        let (typeName, fieldName) = (try word("gHotSpotVMStructEntryTypeNameOffset"), try word("gHotSpotVMStructEntryFieldNameOffset"))
        let (isStatic, offset, address) = (try word("gHotSpotVMStructEntryIsStaticOffset"), try word("gHotSpotVMStructEntryOffsetOffset"),
                                           try word("gHotSpotVMStructEntryAddressOffset"))
        while let type = text(entry, typeName) {
            if let field = text(entry, fieldName) {
                fields[type + "::" + field] = (entry.load(fromByteOffset: isStatic, as: Int32.self) != 0,
                                               entry.load(fromByteOffset: offset, as: UInt64.self),
                                               entry.load(fromByteOffset: address, as: UInt64.self))
            }
            entry += stride
        }
        entry = UnsafeRawPointer(try global("gHotSpotVMTypes").load(as: UnsafeRawPointer.self))
        let (typeStride, typeType, typeSize) = (try word("gHotSpotVMTypeEntryArrayStride"), try word("gHotSpotVMTypeEntryTypeNameOffset"),
                                                try word("gHotSpotVMTypeEntrySizeOffset"))
        while let type = text(entry, typeType) {
            typeSizes[type] = entry.load(fromByteOffset: typeSize, as: UInt64.self)
            entry += typeStride
        }
        entry = UnsafeRawPointer(try global("gHotSpotVMIntConstants").load(as: UnsafeRawPointer.self))
        let (constantStride, constantName, constantValue) = (try word("gHotSpotVMIntConstantEntryArrayStride"),
                                                             try word("gHotSpotVMIntConstantEntryNameOffset"),
                                                             try word("gHotSpotVMIntConstantEntryValueOffset"))
        while let name = text(entry, constantName) {
            intConstants[name] = entry.load(fromByteOffset: constantValue, as: Int32.self)
            entry += constantStride
        }
    }

    func offset(_ name: String) -> UInt64? {
        fields[name].flatMap { $0.isStatic ? nil : $0.offset }
    }

    /// A static field's link-time address (what the file's table holds).
    func linkAddress(_ name: String) -> UInt64? {
        fields[name].flatMap { $0.isStatic ? $0.address - base : nil }
    }

    struct LoadError: Error { var message: String }
}
