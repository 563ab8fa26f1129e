import PHPLayouts
import PHPSymbolization
import Profiles
import WireFormat

/// A function of one process, as its function record named it.
struct PHPFunctionKey: Hashable {
    var function: UInt64
    var fingerprint: UInt32
}

/// The functions a stream described, per process, within one bound over all processes: a
/// count, and the bytes their names and files take (a hostile stream can make each copy as
/// long as the decoder allows, 1 KiB).
struct PHPFunctionTable {
    private var functions: [Int32: [PHPFunctionKey: PHPFunction]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per function the byte bound allows: `limit × bytesPerFunction` (the
    /// walker copies at most 512 bytes of a function's names and file).
    static let bytesPerFunction = 512

    func function(pid: Int32, _ key: PHPFunctionKey) -> PHPFunction? { functions[pid]?[key] }

    static func size(of function: PHPFunction) -> Int { 64 + function.name.utf8.count + function.file.utf8.count }

    /// Stores a parsed function; false when `limit` functions, or `limit × bytesPerFunction` bytes of them, are held already.
    mutating func insert(_ function: PHPFunction, pid: Int32, key: PHPFunctionKey, limit: Int) -> Bool {
        let size = Self.size(of: function)
        let replaced = functions[pid]?[key].map(Self.size(of:))
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + size <= limit * Self.bytesPerFunction else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        functions[pid, default: [:]][key] = function
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = functions.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + Self.size(of: $1) }
    }

    mutating func removeAll() {
        functions = [:]
        count = 0
        bytes = 0
    }
}

/// PHP's frames merge into the native stack at the engine's executor loop (docs/php.md):
/// one `execute_ex` runs every user function called from PHP code; a function called from
/// C (a callback of `array_map`, `usort`, a destructor) runs in an `execute_ex` of its own.
///
/// Under opcache's JIT the functions of a loop run as JIT code instead, entered by a jump
/// from that `execute_ex` on its own stack frame: the code lies in opcache's shared memory,
/// which no ELF file describes, so the native walk stops at the JIT frame (or guesses past
/// it). The PHP frames of that loop stand in place of the JIT frames.
enum PHPFrameMerge {
    /// The Zend VM's executor loop (its handlers are inlined into it in the hybrid VM).
    static let executorLoops: Set<String> = ["execute_ex"]

    /// Whether `frame` is code of no ELF file: opcache's JIT buffer, in its shared memory
    /// (`mmap` of `MAP_SHARED | MAP_ANONYMOUS`: `/dev/zero (deleted)` in the maps; a SysV
    /// segment `/SYSV…`; POSIX shared memory under `/dev/shm`), or anonymous memory.
    static func isJITCode(_ frame: Frame) -> Bool {
        guard frame.type != .kernel, frame.type != .php, frame.functionName == nil else { return false }
        guard let path = frame.mappingPath else { return true }
        return PHPJITBuffer.isSharedMemory(path: path)
    }

    /// `php` is leaf first, `entries[i]` true when `php[i]` began an executor loop;
    /// `frames[userStart...]` are the native user frames. Walking them leaf first, each
    /// executor loop gets, just before it, its PHP frames (up to and including the next
    /// entry frame); JIT frames are dropped, the first of a loop taking its PHP frames, so
    /// that the `execute_ex` the JIT code ran in (when the native walk reached it) gets no
    /// second share. PHP frames left when the native frames end go at the root end.
    static func merge(_ php: [Frame], entries: [Bool], into frames: [Frame], userStart: Int) -> [Frame] {
        var merged: [Frame] = []
        merged.reserveCapacity(frames.count + php.count)
        merged.append(contentsOf: frames[..<userStart])
        var next = 0
        var loopPlaced = false
        func placeLoop() {
            while next < php.count {
                merged.append(php[next])
                next += 1
                if entries[next - 1] { break }
            }
        }
        for frame in frames[userStart...] {
            if isJITCode(frame) {
                if !loopPlaced { placeLoop() }
                loopPlaced = true
                continue
            }
            if frame.type == .native, let name = frame.functionName, executorLoops.contains(name) {
                if !loopPlaced { placeLoop() }
                loopPlaced = false
            }
            merged.append(frame)
        }
        merged.append(contentsOf: php[next...])
        return merged
    }
}

extension Symbolizer {
    /// A PHP frame: named when its function record came, else by its address.
    /// `complete` is false for a frame whose function record may still come.
    static func phpFrame(_ frame: PHPFrame, function: PHPFunction?) -> (Frame, complete: Bool) {
        guard let function else {
            return (Frame(type: .php, address: frame.function), frame.flags.contains(.unreadable))
        }
        let line = function.isInternal ? 0 : (frame.line != 0 ? frame.line : function.firstLine)
        return (Frame(type: .php, address: frame.function, functionName: function.name,
                      sourceFile: function.file.isEmpty ? nil : function.file, sourceLine: line), true)
    }

    /// The layout of a function record's `major << 8 | minor`, or nil when none.
    static func phpLayout(version: UInt32) -> PHPLayout? {
        guard version <= 0xffff else { return nil }
        return PHPLayout.index(of: PHPVersion(major: UInt8(version >> 8), minor: UInt8(version & 0xff)))
            .map { PHPLayout.supported[$0] }
    }
}
