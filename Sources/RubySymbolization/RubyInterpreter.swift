import ELF
import RubyLayouts

/// A file that holds a Ruby VM tandem can walk (libruby-3.X.so, or a ruby executable with
/// the VM linked in): where the dynamic linker writes `ruby_current_ec`'s TLS module id and
/// which layout reads the VM.
public struct RubyInterpreter: Hashable, Sendable {
    public var version: RubyVersion
    /// The ELF virtual address of the GOT word of `ruby_current_ec`'s `R_X86_64_DTPMOD64`
    /// relocation (the process's address is this plus the file's load bias).
    public var moduleSlotAddress: UInt64
    /// `ruby_current_ec`'s offset in the module's TLS block (its `st_value`).
    public var tlsOffset: UInt64
    /// The index of `version`'s layout in `RubyLayout.supported`: what control record 27 names.
    public var layoutIndex: Int
    /// The ELF virtual address of `ruby_global_symbols` (`RubySymbolTable`), which names C
    /// methods, or why it was not found (C methods then get no frame).
    public var globalSymbols: Result<UInt64, RubySymbolTableError>

    public var layout: RubyLayout { RubyLayout.supported[layoutIndex] }

    public init(version: RubyVersion, moduleSlotAddress: UInt64, tlsOffset: UInt64, layoutIndex: Int,
                globalSymbols: Result<UInt64, RubySymbolTableError> = .failure(.noFunction)) {
        self.version = version
        self.moduleSlotAddress = moduleSlotAddress
        self.tlsOffset = tlsOffset
        self.layoutIndex = layoutIndex
        self.globalSymbols = globalSymbols
    }
}

/// What `RubyInterpreter.detect(in:)` found in a file.
public enum RubyInterpreterDetection: Hashable, Sendable {
    case interpreter(RubyInterpreter)
    /// No Ruby VM in the file (most files): nothing to log.
    case notRuby
    /// A Ruby tandem does not walk: the reason, for a log line.
    case unsupported(reason: String)
}

extension RubyInterpreter {
    static let executionContextSymbol = "ruby_current_ec"
    static let versionSymbol = "ruby_version"
    /// The bound `TANDEM_RUBY_MAX_TLS_OFFSET` the sampler enforces.
    static let maximumTLSOffset: UInt64 = 4096

    /// Looks at `elf`'s symbols, its `ruby_version` string and its dynamic relocations.
    /// Throws only when the file itself cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> RubyInterpreterDetection {
        let symbols = try ELFNamedSymbols.values(of: [executionContextSymbol, versionSymbol, RubySymbolTable.function],
                                                 in: elf)
        guard let versionAddress = symbols[versionSymbol] else { return .notRuby }
        guard let text = try versionString(at: versionAddress, in: elf) else {
            return .unsupported(reason: "Ruby whose ruby_version string cannot be read")
        }
        let parts = text.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count >= 2 else { return .unsupported(reason: "Ruby with version \"\(text)\": not major.minor.patch") }
        let version = RubyVersion(major: parts[0], minor: parts[1])
        guard elf.is64Bit else { return .unsupported(reason: "32-bit Ruby \(version): only 64-bit layouts are known") }
        guard let layoutIndex = RubyLayout.index(of: version) else {
            let supported = RubyLayout.supported.map(\.version.description).joined(separator: ", ")
            return .unsupported(reason: "Ruby \(version) is not supported (\(supported) are)")
        }
        guard let tlsOffset = symbols[executionContextSymbol] else {
            return .unsupported(reason: "Ruby \(version) without a ruby_current_ec symbol (stripped of .dynsym?)")
        }
        guard tlsOffset < maximumTLSOffset, tlsOffset % 8 == 0 else {
            return .unsupported(reason: "Ruby \(version): ruby_current_ec at TLS offset \(tlsOffset), past the walker's bound")
        }
        guard let slot = try ELFTLSModuleSlot.address(of: executionContextSymbol, in: elf) else {
            return .unsupported(reason: "Ruby \(version) reaches ruby_current_ec without a DTPMOD64 relocation"
                + " (initial-exec or static TLS): not supported yet")
        }
        let globalSymbols = try RubySymbolTable.address(in: elf, function: symbols[RubySymbolTable.function],
                                                        layout: RubyLayout.supported[layoutIndex])
        return .interpreter(RubyInterpreter(version: version, moduleSlotAddress: slot, tlsOffset: tlsOffset,
                                            layoutIndex: layoutIndex, globalSymbols: globalSymbols))
    }

    /// The NUL-terminated string at `address` ("3.1.2"), at most 16 bytes.
    private static func versionString(at address: UInt64, in elf: ELFFile) throws(ELFFileError) -> String? {
        guard let range = elf.fileRange(ofVirtualAddress: address), range.available > 0 else { return nil }
        let bytes = try elf.source.bytes(at: range.offset, count: min(range.available, 16), place: "ruby_version")
        guard let end = bytes.firstIndex(of: 0) else { return nil }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
