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
enum PHPFrameMerge {
    /// The Zend VM's executor loop (its handlers are inlined into it in the hybrid VM).
    static let executorLoops: Set<String> = ["execute_ex"]
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
