import CPythonSymbolization
import ELF
import Symbolization
import UnwindTableCompiler
import UnwindTableFormat
import WireFormat

/// Finds the CPython interpreter among a process's mapped files as soon as its mappings
/// arrive, without waiting for the file's unwind table (seconds for a large static
/// `python3`): so that a Python process's first samples already have Python frames.
///
/// Only files whose name says `python` (`python3.11`, `libpython3.11.so.1.0`) are read
/// here, once per file; a renamed interpreter is still found by the table compile's
/// parse (`CompiledUnwindTable.cpython`), later.
final class CPythonInterpreterFiles {
    private struct Found {
        var interpreter: CPythonInterpreter
        var segments: [UnwindTable.LoadSegment]
    }

    /// Results by file; nil: not an interpreter tandem walks (or unreadable here).
    private var files: [FileIdentity: Found?] = [:]
    /// Files examined per connection, at most (each costs one read of the file).
    let maximumFiles = 4096
    let maximumFileSize: Int

    init(maximumFileSize: Int) {
        self.maximumFileSize = maximumFileSize
    }

    /// Whether `path` may be a CPython interpreter: its file name holds `python`.
    static func mayBeInterpreter(_ path: String) -> Bool {
        path.split(separator: "/").last?.contains("python") ?? false
    }

    /// The interpreter mapped at `mapping` and `_PyRuntime`'s address in the process.
    func interpreter(at mapping: Mapping, pid: Int32) -> (CPythonInterpreter, runtimeAddress: UInt64)? {
        guard Self.mayBeInterpreter(mapping.path), mapping.inode != 0,
              MappedFilePath.refusal(path: mapping.path, inode: mapping.inode) == nil else { return nil }
        let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
        let found: Found?
        if let known = files[identity] {
            found = known
        } else {
            guard files.count < maximumFiles else { return nil }
            found = examine(paths: ["/proc/\(pid)/root\(mapping.path)", mapping.path], identity: identity)
            files[identity] = found
        }
        guard let found, let elfAddress = found.segments.elfAddress(ofMappingAt: mapping.fileOffset) else { return nil }
        // The mapping's bias turns an ELF address into the process's: address − (elf − start).
        let bias = elfAddress &- mapping.start
        return (found.interpreter, found.interpreter.runtimeAddress &- bias)
    }

    private func examine(paths: [String], identity: FileIdentity) -> Found? {
        for path in paths {
            guard case .success(let (_, bytes)) = UnwindTableCache.readFile(path, identity: identity, limit: maximumFileSize),
                  let elf = try? ELFFile(bytes: bytes, name: path) else { continue }
            guard case .interpreter(let interpreter) = (try? CPythonInterpreter.detect(in: elf)) ?? .notCPython else { return nil }
            return Found(interpreter: interpreter, segments: UnwindTable.LoadSegment.segments(of: elf))
        }
        return nil
    }
}
