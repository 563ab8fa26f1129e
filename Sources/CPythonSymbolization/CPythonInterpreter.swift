import CPythonLayouts
import ELF

/// A file that holds a CPython interpreter tandem can walk (an executable with libpython
/// linked in, or libpython3.X.so): where its `_PyRuntime` is and which layout reads it.
public struct CPythonInterpreter: Hashable, Sendable {
    public var version: CPythonVersion
    /// `_PyRuntime`'s ELF virtual address (the process's address is this plus the file's load bias).
    public var runtimeAddress: UInt64
    /// The index of `version`'s layout in `CPythonLayout.supported`: what control record 19 names.
    public var layoutIndex: Int

    public var layout: CPythonLayout { CPythonLayout.supported[layoutIndex] }

    public init(version: CPythonVersion, runtimeAddress: UInt64, layoutIndex: Int) {
        self.version = version
        self.runtimeAddress = runtimeAddress
        self.layoutIndex = layoutIndex
    }
}

/// What `CPythonInterpreter.detect(in:)` found in a file.
public enum CPythonInterpreterDetection: Hashable, Sendable {
    case interpreter(CPythonInterpreter)
    /// No CPython in the file (most files): nothing to log.
    case notCPython
    /// A CPython tandem does not walk (2.7, 3.6, 3.7, 3.14+, 32-bit, or one whose version
    /// it cannot tell): the reason, for a log line.
    case unsupported(reason: String)
}

extension CPythonInterpreter {
    private static let runtimeSymbol = "_PyRuntime"
    private static let versionSymbol = "Py_Version"
    /// Every CPython 2 and 3 has it: tells an old CPython (no `_PyRuntime`) from other files.
    private static let initializeSymbol = "Py_InitializeEx"

    /// Looks at `elf`'s symbols (and, for 3.8-3.10, its `.rodata`: see `CPythonVersionSource`).
    /// Throws only when the file itself cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> CPythonInterpreterDetection {
        let symbols = try ELFNamedSymbols.values(of: [runtimeSymbol, versionSymbol, initializeSymbol], in: elf)
        guard let runtimeAddress = symbols[runtimeSymbol] else {
            guard symbols[initializeSymbol] != nil else { return .notCPython }
            let version = try CPythonVersionSource.libraryDirectoryVersion(in: elf)
            return .unsupported(reason: "CPython \(version.map { "\($0) " } ?? "")without _PyRuntime (before 3.7): not supported")
        }
        // The layouts are x86-64's (LP64): a 32-bit build's structs are laid out otherwise.
        guard elf.is64Bit else { return .unsupported(reason: "32-bit CPython: only 64-bit layouts are known") }
        let version: CPythonVersion?
        if let address = symbols[versionSymbol] {
            version = try CPythonVersionSource.version(atPyVersion: address, in: elf)
        } else {
            version = try CPythonVersionSource.libraryDirectoryVersion(in: elf)
        }
        guard let version else {
            return .unsupported(reason: "CPython (has _PyRuntime) whose version the file does not say")
        }
        guard let layoutIndex = CPythonLayout.index(of: version) else {
            let supported = CPythonLayout.supported.map(\.version.description).joined(separator: ", ")
            return .unsupported(reason: "CPython \(version) is not supported (\(supported) are)")
        }
        return .interpreter(CPythonInterpreter(version: version, runtimeAddress: runtimeAddress, layoutIndex: layoutIndex))
    }
}
