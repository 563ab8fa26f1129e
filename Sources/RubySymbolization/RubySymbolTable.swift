import ELF
import RubyLayouts

/// Finds `ruby_global_symbols` (symbol.c's `rb_symbols_t`, the VM's ID → name table), which
/// Debian's stripped libruby does not export: the exported `rb_sym_immortal_count` returns
/// its first member (`return global_symbols.last_id;`), compiled to `mov disp32(%rip),%eax;
/// ret` (8B 05 disp32 C3), whose target is the table's address (docs/ruby.md). An exact
/// match of those 7 bytes, not a search: any other code (another compiler, a build with
/// checks) is refused with a reason, and C methods then get no frame.
public enum RubySymbolTable {
    static let function = "rb_sym_immortal_count"

    /// The ELF virtual address of `ruby_global_symbols`, or the reason it was not found.
    public static func address(in elf: ELFFile, function start: UInt64?,
                               layout: RubyLayout) throws(ELFFileError) -> Result<UInt64, RubySymbolTableError> {
        guard let start else { return .failure(.noFunction) }
        guard let range = elf.fileRange(ofVirtualAddress: start), range.available >= 7 else {
            return .failure(.unreadableFunction(start))
        }
        var bytes = [UInt8](repeating: 0, count: 7)
        try elf.source.read(into: &bytes, count: 7, at: range.offset)
        guard let target = lastIDLoadTarget(bytes, at: start) else { return .failure(.unexpectedCode(bytes)) }
        // Every byte the walker reads there, in a writable, non-executable PT_LOAD segment (.data or .bss).
        let end = target &+ UInt64(layout.symbolsBytes)
        guard target % 8 == 0, end > target, elf.programHeaders.contains(where: {
            $0.type == ELFFile.segmentLoad && $0.isWritable && !$0.isExecutable
                && target >= $0.virtualAddress && end <= $0.virtualAddress &+ $0.memorySize
        }) else { return .failure(.notInWritableData(target)) }
        return .success(target)
    }

    /// The target of `mov disp32(%rip),%eax; ret` at `address`, or nil for other bytes.
    package static func lastIDLoadTarget(_ bytes: [UInt8], at address: UInt64) -> UInt64? {
        guard bytes.count >= 7, bytes[0] == 0x8B, bytes[1] == 0x05, bytes[6] == 0xC3 else { return nil }
        let displacement = bytes[2..<6].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return address &+ 6 &+ UInt64(bitPattern: Int64(Int32(bitPattern: displacement)))
    }
}

/// Why `ruby_global_symbols` was not found: C-method frames are then left out.
public enum RubySymbolTableError: Error, Hashable, Sendable, CustomStringConvertible {
    case noFunction
    case unreadableFunction(UInt64)
    case unexpectedCode([UInt8])
    case notInWritableData(UInt64)

    public var description: String {
        switch self {
        case .noFunction:
            "no \(RubySymbolTable.function) export to find ruby_global_symbols through"
        case .unreadableFunction(let address):
            "\(RubySymbolTable.function) at 0x\(String(address, radix: 16)) is not in the file"
        case .unexpectedCode(let bytes):
            "\(RubySymbolTable.function) starts with \(bytes.map { String($0, radix: 16) }.joined(separator: " ")), "
                + "not mov disp32(%rip),%eax; ret: ruby_global_symbols is not found in this build"
        case .notInWritableData(let address):
            "ruby_global_symbols would be at 0x\(String(address, radix: 16)), not in the file's writable data"
        }
    }
}
