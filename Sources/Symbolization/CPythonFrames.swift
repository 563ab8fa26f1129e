import CPythonLayouts
import CPythonSymbolization
import Profiles
import WireFormat

/// A code object of one process, as its code record named it.
struct CPythonCodeKey: Hashable {
    var code: UInt64
    var fingerprint: UInt32
}

/// The code objects a stream described, per process, within one bound over all processes:
/// a count, and the bytes their names and decoded line tables take (a hostile process can
/// make every code object's line table as long as the walker copies, 4 KiB, which decodes
/// to thousands of ranges).
struct CPythonCodeTable {
    private var codes: [Int32: [CPythonCodeKey: CPythonCode]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per code object the byte bound allows: `limit × bytesPerCode`.
    static let bytesPerCode = 1024

    func code(pid: Int32, _ key: CPythonCodeKey) -> CPythonCode? { codes[pid]?[key] }

    /// About what `code` holds: its strings and its line ranges.
    static func size(of code: CPythonCode) -> Int {
        64 + code.name.text.utf8.count + code.fileName.text.utf8.count
            + code.lineTable.ranges.count * MemoryLayout<CPythonLineTable.Range>.stride
    }

    /// Stores a parsed code object; false when `limit` code objects, or `limit × bytesPerCode`
    /// bytes of them, are held already.
    mutating func insert(_ code: CPythonCode, pid: Int32, key: CPythonCodeKey, limit: Int) -> Bool {
        let size = Self.size(of: code)
        let replaced = codes[pid]?[key].map(Self.size(of:))
        guard (replaced != nil || count < limit), bytes - (replaced ?? 0) + size <= limit * Self.bytesPerCode else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        codes[pid, default: [:]][key] = code
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = codes.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + Self.size(of: $1) }
    }

    mutating func removeAll() {
        codes = [:]
        count = 0
        bytes = 0
    }
}

/// Merges a sample's Python frames into its native frames (docs/cpython.md): walking the
/// native frames leaf first, each `_PyEval_EvalFrameDefault` frame gets, just before it,
/// the Python frames its evaluation ran (up to and including the next `entry` frame).
/// Python frames left when the native frames end (a walk cut short) go at the root end.
enum CPythonFrameMerge {
    /// The C function that evaluates Python frames, in every supported version.
    static let evaluationFunction = "_PyEval_EvalFrameDefault"

    /// `python` is leaf first; `frames[userStart...]` are the native user frames. Other
    /// interpreters (Perl) merge the same way at their own run loops (`evaluationFunctions`).
    static func merge(_ python: [Frame], entries: [Bool], into frames: [Frame], userStart: Int,
                      at evaluationFunctions: Set<String> = [evaluationFunction]) -> [Frame] {
        var merged: [Frame] = []
        merged.reserveCapacity(frames.count + python.count)
        merged.append(contentsOf: frames[..<userStart])
        var next = 0
        for frame in frames[userStart...] {
            if frame.type == .native, let name = frame.functionName, evaluationFunctions.contains(name), next < python.count {
                while next < python.count {
                    merged.append(python[next])
                    next += 1
                    if entries[next - 1] { break }
                }
            }
            merged.append(frame)
        }
        merged.append(contentsOf: python[next...])
        return merged
    }
}

extension Symbolizer {
    /// A Python frame: named when its code record came, else by its code address.
    /// `complete` is false for a frame whose code record may still come.
    static func cpythonFrame(_ frame: CPythonFrame, code: CPythonCode?) -> (Frame, complete: Bool) {
        guard let code else {
            return (Frame(type: .cpython, address: frame.code), frame.flags.contains(.codeUnreadable))
        }
        let line = frame.instruction == CPythonFrame.unknownInstruction ? nil : code.line(forInstruction: frame.instruction)
        return (Frame(type: .cpython, address: frame.code, functionName: code.name.text,
                      sourceFile: code.fileName.text, sourceLine: UInt32(clamping: line ?? code.firstLine)), true)
    }

    /// The layout that reads a code record of `version` (`major << 8 | minor`).
    static func cpythonLayout(version: UInt32) -> CPythonLayout? {
        guard version <= 0xffff else { return nil }
        return CPythonLayout.layout(for: CPythonVersion(major: UInt8(version >> 8), minor: UInt8(version & 0xff)))
    }
}
