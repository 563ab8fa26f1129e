import Profiles
import V8Layouts
import V8Symbolization
import WireFormat

/// A JavaScript function of one process, as its function record named it.
struct V8FunctionKey: Hashable {
    var sharedFunctionInfo: UInt64
    var fingerprint: UInt32
}

/// The functions a stream described, per process, within one bound over all processes: a
/// count, and the bytes their names take (a hostile process can make every name as long as
/// the walker copies).
struct V8FunctionTable {
    private var functions: [Int32: [V8FunctionKey: V8Function]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per function the byte bound allows: `limit × bytesPerFunction`.
    static let bytesPerFunction = 512

    func function(pid: Int32, _ key: V8FunctionKey) -> V8Function? { functions[pid]?[key] }

    static func size(of function: V8Function) -> Int {
        64 + function.name.utf8.count + function.scriptName.utf8.count + function.bytecodePositions.bytes.count
    }

    /// Stores a function; false when `limit` functions, or `limit × bytesPerFunction` bytes
    /// of them, are held already.
    mutating func insert(_ function: V8Function, pid: Int32, key: V8FunctionKey, limit: Int) -> Bool {
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

/// Optimized code of one process, by where its instructions start and its fingerprint.
struct V8CodeKey: Hashable {
    var instructionStart: UInt64
    var fingerprint: UInt32
}

/// The optimized code a stream described (what each inlined), per process, within one bound
/// over all processes: a count, and the bytes their decoded tables take.
struct V8CodeTable {
    typealias Entry = (code: V8Code, functions: [V8InlinedFunction])
    private var codes: [Int32: [V8CodeKey: Entry]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0

    func code(pid: Int32, _ key: V8CodeKey) -> Entry? { codes[pid]?[key] }

    /// Stores a code object; false when `limit` of them, or `limit × bytesPerFunction` bytes,
    /// are held already.
    mutating func insert(_ entry: Entry, pid: Int32, key: V8CodeKey, limit: Int) -> Bool {
        let size = entry.code.size
        let replaced = codes[pid]?[key].map(\.code.size)
        guard replaced != nil || count < limit,
              bytes - (replaced ?? 0) + size <= limit * V8FunctionTable.bytesPerFunction else { return false }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        codes[pid, default: [:]][key] = entry
        return true
    }

    mutating func remove(pid: Int32) {
        guard let removed = codes.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + $1.code.size }
    }

    mutating func removeAll() {
        codes = [:]
        count = 0
        bytes = 0
    }
}

/// Puts a sample's JavaScript frames in place of the native frames they are (docs/v8.md):
/// the walker recorded each JavaScript frame's pc as the native walk sees it (the sampled
/// pc, or the return address into the frame), so a native frame with that address, found
/// leaf to root in order, is replaced; node's C++ frames around them stay. A frame the
/// native walk did not reach (it stopped early) goes just root-side of the last replaced
/// one, in order; so no function is shown twice, and a perf-map name of that code (when
/// node runs with `--perf-basic-prof`) gives way to the walker's. A native frame of optimized
/// code may stand for several JavaScript frames (the functions inlined at its pc): they take
/// its place together, innermost first.
enum V8FrameMerge {
    /// `javaScript` is leaf first, each native frame's JavaScript frames with its pc;
    /// `frames[userStart...]` are the native user frames.
    static func merge(_ javaScript: [(pc: UInt64, frames: [Frame])], into frames: [Frame], userStart: Int) -> [Frame] {
        var merged = Array(frames[..<userStart])
        merged.reserveCapacity(frames.count + 1)
        var native = userStart
        var unplaced: [Frame] = []
        for (pc, group) in javaScript {
            guard let position = frames[native...].firstIndex(where: { $0.address == pc && $0.type != .kernel }) else {
                unplaced.append(contentsOf: group)
                continue
            }
            merged.append(contentsOf: frames[native..<position])
            merged.append(contentsOf: unplaced)
            unplaced.removeAll()
            merged.append(contentsOf: group)
            native = position + 1
        }
        // Frames the native walk did not reach: after the last replaced frame, then the rest.
        merged.append(contentsOf: unplaced)
        merged.append(contentsOf: frames[native...])
        return merged
    }
}

extension Symbolizer {
    /// A JavaScript frame: named when its function record came, else by its pc.
    /// `complete` is false for a frame whose function record may still come.
    static func v8Frame(_ frame: V8Frame, function: V8Function?) -> (Frame, complete: Bool) {
        guard let function else {
            return (Frame(type: .v8js, address: frame.pc), frame.flags.contains(.functionUnreadable))
        }
        return (Frame(type: .v8js, address: frame.pc, functionName: function.name,
                      sourceFile: function.scriptName.isEmpty ? nil : function.scriptName), true)
    }

    /// The layout that reads a function record of `version` (`major << 24 | minor << 16 | build`).
    static func v8Layout(version: UInt32) -> V8Layout? {
        V8Layout.supported.first { $0.version == version }
    }

    /// The bytecode sizes of the build `layout` describes (`V8Layout.bytecodeSizes`), which
    /// decode its Sparkplug code records.
    static func v8BytecodeSizes(_ layout: V8Layout) -> [[UInt8]] {
        V8Layout.supported.firstIndex(of: layout).map { V8Layout.bytecodeSizes[$0] } ?? []
    }
}
