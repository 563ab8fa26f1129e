import ELF
import PHPLayouts

/// A file that holds a PHP engine tandem can walk (the `php` CLI, or `libphp.so` embedded in
/// a server): where its `executor_globals` is and which layout reads it.
public struct PHPInterpreter: Hashable, Sendable {
    public var version: PHPVersion
    /// `executor_globals`'s ELF virtual address (the process's address is this plus the
    /// file's load bias): the engine's state, with the frame running now.
    public var executorGlobalsAddress: UInt64
    /// The index of `version`'s layout in `PHPLayout.supported`: what control record 29 names.
    public var layoutIndex: Int

    public var layout: PHPLayout { PHPLayout.supported[layoutIndex] }

    public init(version: PHPVersion, executorGlobalsAddress: UInt64, layoutIndex: Int) {
        self.version = version
        self.executorGlobalsAddress = executorGlobalsAddress
        self.layoutIndex = layoutIndex
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
        return .interpreter(PHPInterpreter(version: version, executorGlobalsAddress: globals, layoutIndex: layoutIndex))
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
