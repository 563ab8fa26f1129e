import ELF
import PHPLayouts
import UnwindTableCompiler
import UnwindTableFormat

/// A file that holds a PHP engine tandem can walk (the `php` CLI, or `libphp.so` embedded in
/// a server): where its `executor_globals` is and which layout reads it.
public struct PHPInterpreter: Hashable, Sendable {
    public var version: PHPVersion
    /// `executor_globals`'s ELF virtual address (the process's address is this plus the
    /// file's load bias): the engine's state, with the frame running now.
    public var executorGlobalsAddress: UInt64
    /// The index of `version`'s layout in `PHPLayout.supported`: what control record 29 names.
    public var layoutIndex: Int

    /// Where opcache's JIT code returns to the native walk (docs/php.md, "The JIT"): nil when
    /// `execute_ex` has no `jmp *(%r15)` in its first bytes or its CFI there is not rsp-based.
    public var dispatch: PHPDispatch?

    public var layout: PHPLayout { PHPLayout.supported[layoutIndex] }

    public init(version: PHPVersion, executorGlobalsAddress: UInt64, layoutIndex: Int, dispatch: PHPDispatch? = nil) {
        self.version = version
        self.executorGlobalsAddress = executorGlobalsAddress
        self.layoutIndex = layoutIndex
        self.dispatch = dispatch
    }
}

/// A `jmp *(%r15)` in the hybrid VM's `execute_ex` (how it enters a handler, or JIT code,
/// which then runs on `execute_ex`'s stack frame), and that frame's CFA there: `rsp + cfaOffset`.
public struct PHPDispatch: Hashable, Sendable {
    /// ELF virtual address of the jump.
    public var address: UInt64
    public var cfaOffset: UInt32

    public init(address: UInt64, cfaOffset: UInt32) {
        self.address = address
        self.cfaOffset = cfaOffset
    }
}

/// What `PHPInterpreter.detect(in:)` found in a file.
public enum PHPInterpreterDetection: Hashable, Sendable {
    case interpreter(PHPInterpreter)
    /// No PHP engine in the file (most files): nothing to log.
    case notPHP
    /// A PHP tandem does not walk (thread-safe, 32-bit, a version without a layout): the
    /// reason, for a log line.
    case unsupported(reason: String)
}

extension PHPInterpreter {
    /// The Zend VM's executor loop: every PHP 7 and 8 engine has it.
    static let executorSymbol = "execute_ex"
    /// Non-thread-safe builds: the engine's globals.
    static let globalsSymbol = "executor_globals"
    /// Thread-safe (ZTS) builds keep the globals per thread at this offset instead.
    static let threadSafeGlobalsSymbol = "executor_globals_offset"
    /// The engine's header line, in `.rodata` of every PHP: "X-Powered-By: PHP/8.2.36".
    static let versionMarker = Array("X-Powered-By: PHP/".utf8)
    /// `.rodata` larger than this is not searched (the php CLI's is about 0.5 MB).
    static let maximumReadOnlyDataSize: UInt64 = 64 << 20

    /// Looks at `elf`'s symbols and its version string. Throws only when the file itself
    /// cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> PHPInterpreterDetection {
        let symbols = try ELFNamedSymbols.values(of: [executorSymbol, globalsSymbol, threadSafeGlobalsSymbol], in: elf)
        guard symbols[executorSymbol] != nil else { return .notPHP }
        guard let version = try version(in: elf) else {
            return .unsupported(reason: "PHP whose version the file does not say (no \"X-Powered-By: PHP/\" string)")
        }
        if symbols[threadSafeGlobalsSymbol] != nil {
            return .unsupported(reason: "thread-safe (ZTS) PHP \(version): only non-thread-safe builds are walked")
        }
        guard let globals = symbols[globalsSymbol] else {
            return .unsupported(reason: "PHP \(version) without an executor_globals symbol (stripped of .dynsym?)")
        }
        guard elf.is64Bit else { return .unsupported(reason: "32-bit PHP \(version): only 64-bit layouts are known") }
        guard let layoutIndex = PHPLayout.index(of: version) else {
            let supported = PHPLayout.supported.map(\.version.description).joined(separator: ", ")
            return .unsupported(reason: "PHP \(version) has no layout here (\(supported) do): regenerate the table with scripts/php-layouts.sh")
        }
        let dispatch = try Self.dispatch(in: elf, executor: symbols[executorSymbol]!)
        return .interpreter(PHPInterpreter(version: version, executorGlobalsAddress: globals, layoutIndex: layoutIndex,
                                           dispatch: dispatch))
    }

    /// `jmp *(%r15)`: the hybrid VM's dispatch to the handler (or JIT code) of `opline`.
    static let dispatchJump: [UInt8] = [0x41, 0xff, 0x27]
    /// Bytes of `execute_ex` searched for it (Debian's 8.2 has it 0x45 bytes in).
    static let dispatchSearchBytes: UInt64 = 4096

    /// The first `jmp *(%r15)` of `execute_ex` (at `executor`) and the CFA its CFI gives there
    /// (`rsp + K`, the return address at CFA - 8): nil when either is missing. A file whose
    /// CFI cannot be compiled gets nil too (its frames are walked; the JIT is not stepped over).
    static func dispatch(in elf: ELFFile, executor: UInt64) throws(ELFFileError) -> PHPDispatch? {
        guard let (offset, available) = elf.fileRange(ofVirtualAddress: executor) else { return nil }
        let bytes = try elf.source.bytes(at: offset, count: min(available, dispatchSearchBytes), place: "execute_ex")
        guard bytes.count >= dispatchJump.count,
              let found = (1...(bytes.count - dispatchJump.count)).first(where: {
                  bytes[$0..<($0 + dispatchJump.count)].elementsEqual(dispatchJump)
              }) else { return nil }
        let address = executor + UInt64(found)
        guard let table = try? UnwindTable.compile(elf: elf),
              let row = table.rows.last(where: { $0.startAddress <= address }),
              case .registerOffset(.rsp, let cfa) = row.cfa, cfa >= 16, cfa <= 4096, cfa % 8 == 0 else { return nil }
        return PHPDispatch(address: address, cfaOffset: UInt32(cfa))
    }

    /// The major and minor version after "X-Powered-By: PHP/" in `.rodata`.
    static func version(in elf: ELFFile) throws(ELFFileError) -> PHPVersion? {
        guard let section = elf.section(named: ".rodata") else { return nil }
        let bytes = try elf.storedBytes(of: section, limit: maximumReadOnlyDataSize)
        return version(after: versionMarker, in: bytes)
    }

    /// "8.2" of "8.2.36" just after `marker` in `bytes`.
    static func version(after marker: [UInt8], in bytes: [UInt8]) -> PHPVersion? {
        guard let first = marker.first, bytes.count >= marker.count else { return nil }
        var start = 0
        while let found = bytes[start...].firstIndex(of: first) {
            let end = found + marker.count
            guard end <= bytes.count else { return nil }
            if bytes[found..<end].elementsEqual(marker) {
                let text = String(decoding: bytes[end..<min(bytes.count, end + 16)].prefix { $0 != 0 }, as: UTF8.self)
                let parts = text.split(separator: ".", maxSplits: 2).map { $0.prefix { $0.isNumber } }
                guard parts.count >= 2, let major = UInt8(parts[0]), let minor = UInt8(parts[1]) else { return nil }
                return PHPVersion(major: major, minor: minor)
            }
            start = found + 1
        }
        return nil
    }
}
