import BEAMSymbolization
import CPythonSymbolization
import ELF
import HotSpotSymbolization
import PerlSymbolization
import PHPSymbolization
import RubySymbolization
import Symbolization
import UnwindTableCompiler
import UnwindTableFormat
import WireFormat

/// An interpreter tandem walks, found in a mapped file: `anchorAddress` is the ELF address
/// of what the sampler's walker starts from (`_PyRuntime`, `PL_thr_key`, `executor_globals`,
/// a BEAM VM's `the_active_code_index`, a JVM's `CodeCache::_heaps`, the GOT word of Ruby's
/// `ruby_current_ec` module id: their other addresses move by the same bias).
enum MappedInterpreter: Hashable {
    case cpython(CPythonInterpreter)
    case perl(PerlInterpreter)
    case php(PHPInterpreter)
    case beam(BEAMVirtualMachine)
    case hotspot(HotSpotRuntime)
    case ruby(RubyInterpreter)

    var anchorAddress: UInt64 {
        switch self {
        case .cpython(let interpreter): interpreter.runtimeAddress
        case .perl(let interpreter): interpreter.threadKeyAddress
        case .php(let interpreter): interpreter.executorGlobalsAddress
        case .beam(let machine): machine.activeCodeIndexAddress
        case .hotspot(let runtime): runtime.codeCacheHeapsAddress
        case .ruby(let vm): vm.moduleSlotAddress
        }
    }
}

/// Finds the CPython, Perl, PHP or Ruby interpreter, the BEAM VM or the JVM among a process's
/// mapped files as soon as its mappings arrive, without waiting for the file's unwind table
/// (seconds for a large static `python3` or a 20 MB `libjvm.so`, and longer on a busy host):
/// so that a process's first samples already have its interpreter's frames, and a process
/// started before the sampler has them within its first seconds.
///
/// Only files whose name says `python` (`python3.11`, `libpython3.11.so.1.0`), `perl`
/// (`perl`, `libperl.so.5.36`), `php` (`php8.2`, `libphp.so`), `beam` (`beam.smp`), `ruby`
/// (`libruby-3.1.so.3.1`) or is `libjvm.so` are read here, once per file; a renamed
/// interpreter is still found by the table compile's parse (`CompiledUnwindTable`), later.
final class InterpreterFiles {
    private struct Found {
        var interpreter: MappedInterpreter
        var segments: [UnwindTable.LoadSegment]
    }

    /// Results by file; nil: not an interpreter tandem walks (or unreadable here).
    private var files: [FileIdentity: Found?] = [:]
    /// Interpreters found but not walked (a thread-safe PHP, a release without a layout), with
    /// the reason, until the publisher logs them: at most one per file examined.
    private var refusals: [(path: String, reason: String)] = []
    /// Files no path opened for lack of permission, with the mappings that wait for them:
    /// examined again when the sampler passes a descriptor (`examinePassed`).
    private var awaiting: [FileIdentity: [(pid: Int32, mapping: Mapping)]] = [:]
    private let maximumAwaitingPerFile = 256
    /// Files examined per connection, at most (each costs a read of its headers and symbols).
    let maximumFiles = 4096
    let maximumFileSize: Int

    init(maximumFileSize: Int) {
        self.maximumFileSize = maximumFileSize
    }

    /// Whether `path` may be an interpreter: its file name holds `python`, `perl`, `php`,
    /// `beam` or `ruby`, or is `libjvm.so`.
    static func mayBeInterpreter(_ path: String) -> Bool {
        guard let name = path.split(separator: "/").last else { return false }
        return name.contains("python") || name.contains("perl") || name.contains("php") || name.contains("beam")
            || name.contains("ruby") || name == "libjvm.so"
    }

    /// The interpreter mapped at `mapping` and its anchor's address in the process.
    func interpreter(at mapping: Mapping, pid: Int32) -> (MappedInterpreter, address: UInt64)? {
        guard Self.mayBeInterpreter(mapping.path), mapping.inode != 0,
              MappedFilePath.refusal(path: mapping.path, inode: mapping.inode) == nil else { return nil }
        let identity = FileIdentity(device: mapping.device, inode: mapping.inode)
        let found: Found?
        if let known = files[identity] {
            found = known
        } else {
            guard files.count < maximumFiles else { return nil }
            switch examine(paths: ["/proc/\(pid)/root\(mapping.path)", mapping.path], identity: identity) {
            case .found(let result, let refusal):
                found = result
                files[identity] = result
                if let refusal { refusals.append((mapping.path, refusal)) }
            case .notReadable:
                // The table's request brings a descriptor (`examinePassed`).
                if awaiting[identity, default: []].count < maximumAwaitingPerFile { awaiting[identity, default: []].append((pid, mapping)) }
                return nil
            }
        }
        guard let found else { return nil }
        return Self.anchorAddress(of: found, at: mapping).map { (found.interpreter, $0) }
    }

    /// Whether `mapping`'s file waits for a descriptor (no path opened it).
    func awaitsDescriptor(_ mapping: Mapping) -> Bool {
        awaiting[FileIdentity(device: mapping.device, inode: mapping.inode)] != nil
    }

    /// A descriptor of `identity` arrived: the interpreter in it for each mapping that
    /// waited for it.
    func examinePassed(_ file: OpenFile, identity: FileIdentity) -> [(pid: Int32, mapping: Mapping, interpreter: MappedInterpreter, address: UInt64)] {
        guard let waiting = awaiting.removeValue(forKey: identity) else { return [] }
        var found: Found?
        if case .success = UnwindTableCache.check(file, identity: identity, limit: maximumFileSize) {
            let examined = Self.interpreter(in: file)
            found = examined.found
            if let refusal = examined.refusal { refusals.append((file.path, refusal)) }
        }
        files[identity] = found
        guard let found else { return [] }
        return waiting.compactMap { pid, mapping in
            Self.anchorAddress(of: found, at: mapping).map { (pid, mapping, found.interpreter, $0) }
        }
    }

    /// The interpreters found but not walked since the last call, with why: for the log.
    func takeRefusals() -> [(path: String, reason: String)] {
        defer { refusals = [] }
        return refusals
    }

    /// The interpreter in `file` (its headers and symbol tables read with `pread`), with the
    /// segments that place it; nil when none, with the reason when the file holds an
    /// interpreter tandem does not walk. Only the detections the file's name calls for run:
    /// each looks its symbols up in the whole `.symtab` when `.dynsym` lacks them (58,000
    /// symbols in libjvm.so), which is what the stream's reader waits on.
    private static func interpreter(in file: OpenFile) -> (found: Found?, refusal: String?) {
        let name = file.path
        guard let elf = try? ELFFile(source: file) else { return (nil, nil) }
        let fileName = name.split(separator: "/").last.map(String.init) ?? name
        var refusal: String?
        for detection in detections where detection.fileName(fileName) {
            switch detection.detect(elf, name) {
            case .found(let interpreter):
                return (Found(interpreter: interpreter, segments: UnwindTable.LoadSegment.segments(of: elf)), nil)
            case .refused(let reason):
                refusal = reason
            case .none:
                continue
            }
        }
        return (nil, refusal)
    }

    private enum Detected {
        case found(MappedInterpreter)
        case refused(String)
        case none
    }

    /// Each runtime's detection and the file names it is tried on. HotSpot's and Ruby's
    /// refusals are logged by the table compile's detection (the same parse), not here.
    private static let detections: [(fileName: @Sendable (String) -> Bool, detect: @Sendable (ELFFile, String) -> Detected)] = [
        ({ $0.contains("python") }, { elf, _ in
            switch (try? CPythonInterpreter.detect(in: elf)) ?? .notCPython {
            case .interpreter(let found): .found(.cpython(found))
            case .unsupported, .notCPython: .none
            }
        }),
        ({ $0.contains("perl") }, { elf, _ in
            switch (try? PerlInterpreter.detect(in: elf)) ?? .notPerl {
            case .interpreter(let found): .found(.perl(found))
            case .unsupported(let reason): .refused(reason)
            case .notPerl: .none
            }
        }),
        ({ $0.contains("php") }, { elf, _ in
            switch (try? PHPInterpreter.detect(in: elf)) ?? .notPHP {
            case .interpreter(let found): .found(.php(found))
            case .unsupported(let reason): .refused(reason)
            case .notPHP: .none
            }
        }),
        // The ERTS version is in the file's directory (`…/erts-13.1.5/bin/beam.smp`).
        ({ $0.contains("beam") }, { elf, path in
            switch (try? BEAMVirtualMachine.detect(in: elf, path: path)) ?? .notBEAM {
            case .virtualMachine(let found): .found(.beam(found))
            case .unsupported(let reason): .refused(reason)
            case .notBEAM: .none
            }
        }),
        ({ $0 == "libjvm.so" }, { elf, _ in
            if case .runtime(let found) = (try? HotSpotRuntime.detect(in: elf)) ?? .notHotSpot { .found(.hotspot(found)) } else { .none }
        }),
        ({ $0.contains("ruby") }, { elf, _ in
            if case .interpreter(let found) = (try? RubyInterpreter.detect(in: elf)) ?? .notRuby { .found(.ruby(found)) } else { .none }
        }),
    ]

    /// The anchor in the process: the mapping's bias turns an ELF address into the
    /// process's (address − (elf − start)).
    private static func anchorAddress(of found: Found, at mapping: Mapping) -> UInt64? {
        guard let elfAddress = found.segments.elfAddress(ofMappingAt: mapping.fileOffset) else { return nil }
        return found.interpreter.anchorAddress &- (elfAddress &- mapping.start)
    }

    private enum Examination {
        case found(Found?, refusal: String?)
        /// Every path failed for lack of access (another mount namespace, permissions).
        case notReadable
    }

    private func examine(paths: [String], identity: FileIdentity) -> Examination {
        var onlyAccessFailures = true
        for path in paths {
            switch UnwindTableCache.openFile(path, identity: identity, limit: maximumFileSize) {
            case .failure(let failure):
                onlyAccessFailures = onlyAccessFailures && failure.isAccessFailure
            case .success(let file):
                let examined = Self.interpreter(in: file)
                return .found(examined.found, refusal: examined.refusal)
            }
        }
        return onlyAccessFailures ? .notReadable : .found(nil, refusal: nil)
    }
}
