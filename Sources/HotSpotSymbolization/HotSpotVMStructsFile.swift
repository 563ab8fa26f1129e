import ELF

/// The static fields of `gHotSpotVMStructs` as libjvm.so's file holds them: HotSpot's own
/// list of where its global variables are, read without loading the library.
///
/// In the file the table's pointers (type and field names, a static field's address) are
/// link-time virtual addresses, written in place by the linker and by an `R_X86_64_RELATIVE`
/// relocation's addend; only the non-static offsets are left to libjvm's constructors, which
/// is why the offsets come from the compiled `HotSpotLayout` and not from here.
struct HotSpotVMStructsFile {
    /// One `VMStructEntry`'s shape: the same from JDK 8 to 21 (generated into every layout).
    struct EntryShape: Hashable {
        var stride: Int
        var typeName: Int
        var fieldName: Int
        var isStatic: Int
        var address: Int
    }

    /// A file whose table has more entries than this is not libjvm.so as tandem knows it
    /// (JDK 17 has under 800 fields and statics).
    static let maximumEntries = 16384
    /// A type or field name longer than this is no name tandem looks for.
    static let maximumNameBytes = 96
    /// A `.rela.dyn` larger than this is not read (JDK 17's is 2.3 MiB): its offset → addend
    /// dictionary is what a planted file could make large.
    static let maximumRelocationBytes: UInt64 = 8 << 20
    private static let relocationTypeRelative: UInt64 = 8

    let elf: ELFFile
    private var relocationAddends: [UInt64: UInt64]?

    init(elf: ELFFile) {
        self.elf = elf
    }

    /// The link-time addresses of the static fields named `type::field` in `wanted`, read
    /// from the table at `tableAddress` (`gHotSpotVMStructs`'s value: a pointer to the table).
    mutating func staticAddresses(wanted: Set<String>, tableAddress: UInt64,
                                  shape: EntryShape) throws(HotSpotDetectionError) -> [String: UInt64] {
        guard let table = try pointer(at: tableAddress), table != 0 else {
            throw .unreadable("gHotSpotVMStructs holds no table address")
        }
        var found: [String: UInt64] = [:]
        for index in 0..<Self.maximumEntries {
            let entry = table &+ UInt64(index * shape.stride)
            guard let typeNameAddress = try pointer(at: entry &+ UInt64(shape.typeName)) else {
                throw .unreadable("gHotSpotVMStructs entry \(index) is outside the file")
            }
            if typeNameAddress == 0 { return found }
            guard try int32(at: entry &+ UInt64(shape.isStatic)) != 0,
                  let fieldNameAddress = try pointer(at: entry &+ UInt64(shape.fieldName)), fieldNameAddress != 0,
                  let typeName = try string(at: typeNameAddress), let fieldName = try string(at: fieldNameAddress)
            else { continue }
            let name = typeName + "::" + fieldName
            if wanted.contains(name), let address = try pointer(at: entry &+ UInt64(shape.address)) {
                found[name] = address
            }
        }
        throw .unreadable("gHotSpotVMStructs has more than \(Self.maximumEntries) entries")
    }

    /// The 4-byte little-endian integer at `address`, if the file holds it.
    func int32(at address: UInt64) throws(HotSpotDetectionError) -> Int32? {
        guard let bytes = try bytes(at: address, count: 4) else { return nil }
        return Int32(bitPattern: UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
    }

    /// The pointer stored at `address`: the word in the file, or where that is 0, the addend
    /// of the relative relocation that fills it. nil: the file does not hold `address`.
    mutating func pointer(at address: UInt64) throws(HotSpotDetectionError) -> UInt64? {
        guard let bytes = try bytes(at: address, count: 8) else { return nil }
        let stored = bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if stored != 0 { return stored }
        if relocationAddends == nil { relocationAddends = try readRelativeRelocations() }
        return relocationAddends?[address] ?? 0
    }

    /// The NUL-terminated name at `address`, if it is one (ASCII, at most `maximumNameBytes`).
    private func string(at address: UInt64) throws(HotSpotDetectionError) -> String? {
        guard let range = elf.fileRange(ofVirtualAddress: address) else { return nil }
        let count = min(range.available, UInt64(Self.maximumNameBytes))
        let bytes: [UInt8]
        do { bytes = try elf.source.bytes(at: range.offset, count: count, place: "gHotSpotVMStructs name") } catch {
            throw .file(error)
        }
        guard let end = bytes.firstIndex(of: 0), bytes[..<end].allSatisfy({ $0 < 0x80 }) else { return nil }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    private func bytes(at address: UInt64, count: UInt64) throws(HotSpotDetectionError) -> [UInt8]? {
        guard let range = elf.fileRange(ofVirtualAddress: address), range.available >= count else { return nil }
        do { return try elf.source.bytes(at: range.offset, count: count, place: "gHotSpotVMStructs") } catch {
            throw .file(error)
        }
    }

    /// offset → addend of every `R_X86_64_RELATIVE` in the file's `SHT_RELA` sections.
    private func readRelativeRelocations() throws(HotSpotDetectionError) -> [UInt64: UInt64] {
        var addends: [UInt64: UInt64] = [:]
        for section in elf.sections where section.type == 4 && section.entrySize == 24 {
            let bytes: [UInt8]
            do { bytes = try elf.storedBytes(of: section, limit: Self.maximumRelocationBytes) } catch { throw .file(error) }
            bytes.withUnsafeBytes { raw in
                for position in stride(from: 0, to: raw.count - 23, by: 24) {
                    let info = raw.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self)
                    guard info & 0xffff_ffff == Self.relocationTypeRelative else { continue }
                    addends[raw.loadUnaligned(fromByteOffset: position, as: UInt64.self)] =
                        raw.loadUnaligned(fromByteOffset: position + 16, as: UInt64.self)
                }
            }
        }
        return addends
    }
}
