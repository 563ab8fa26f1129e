import HotSpotLayouts
import HotSpotSymbolization
import Profiles
import WireFormat

/// A method of one process, as its method record named it: the `Method *` and the
/// fingerprint that tells a freed and reused `Method *` apart (docs/jvm.md).
struct HotSpotMethodKey: Hashable {
    var method: UInt64
    var fingerprint: UInt32
}

/// The methods a stream described, per process, within one bound over all processes: a
/// count, and the bytes their names and line tables take (a hostile process can make each
/// line table as long as the walker copies, 512 bytes, which decodes to ~500 entries).
struct HotSpotMethodTable {
    private var methods: [Int32: [HotSpotMethodKey: HotSpotMethod]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per method the byte bound allows: `limit × bytesPerMethod`.
    static let bytesPerMethod = 512

    func method(pid: Int32, _ key: HotSpotMethodKey) -> HotSpotMethod? { methods[pid]?[key] }

    static func size(of method: HotSpotMethod) -> Int {
        64 + method.className.utf8.count + method.methodName.utf8.count + method.sourceFile.utf8.count
            + method.lineTable.entries.count * MemoryLayout<HotSpotLineNumberTable.Entry>.stride
    }

    /// Stores a parsed method; false when `limit` methods, or `limit × bytesPerMethod` bytes of them, are held already.
    mutating func insert(_ method: HotSpotMethod, pid: Int32, key: HotSpotMethodKey, limit: Int) -> Bool {
        let size = Self.size(of: method)
        let replaced = methods[pid]?[key].map(Self.size(of:))
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + size <= limit * Self.bytesPerMethod else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        methods[pid, default: [:]][key] = method
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = methods.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + Self.size(of: $1) }
    }

    mutating func removeAll() {
        methods = [:]
        count = 0
        bytes = 0
    }
}

/// Puts a sample's Java frames in place of the native frames they are (docs/jvm.md): the
/// walker recorded, for each Java frame, the index of its code-cache pc among the native
/// user frames. That native frame (a bare JIT address, or the perf map's name for the same
/// code) is replaced, so a frame named by both sources counts once, with the walker's name.
enum HotSpotFrameMerge {
    /// `java` pairs each Java frame with its native slot, in the walker's order (leaf first;
    /// several frames of one slot, an nmethod's inlined methods, innermost first).
    /// `frames[userStart...]` are the native user frames. A slot past them is dropped.
    static func merge(_ java: [(slot: Int, frame: Frame)], into frames: [Frame], userStart: Int) -> [Frame] {
        var bySlot: [Int: [Frame]] = [:]
        for (slot, frame) in java where slot >= 0 && slot < frames.count - userStart {
            bySlot[slot, default: []].append(frame)
        }
        var merged: [Frame] = []
        merged.reserveCapacity(frames.count + java.count)
        merged.append(contentsOf: frames[..<userStart])
        for (slot, frame) in frames[userStart...].enumerated() {
            if let replacements = bySlot[slot] {
                merged.append(contentsOf: replacements)
            } else {
                merged.append(frame)
            }
        }
        return merged
    }
}

extension Symbolizer {
    /// A Java frame: named when its method record came, else by its `Method *`. `complete`
    /// is false for a frame whose method record may still come.
    static func hotspotFrame(_ frame: HotSpotFrame, method: HotSpotMethod?) -> (Frame, complete: Bool) {
        guard let method else { return (Frame(type: .jvm, address: frame.method), frame.method == 0) }
        // Interpreted frames carry the bci; compiled ones a pc offset, whose line needs the
        // nmethod's scopes (not read yet): they show the method without a line.
        let line = frame.kind == .interpreted ? method.line(forBCI: Int32(bitPattern: frame.position)) : 0
        return (Frame(type: .jvm, address: frame.method, functionName: method.qualifiedName,
                      sourceFile: method.sourceFile.isEmpty ? nil : method.sourceFile, sourceLine: UInt32(clamping: line)),
                true)
    }
}
