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

/// An nmethod of one process, as its code record described it: its own method, and the
/// methods inlined at each pc offset (HotSpotScopes), each with the fingerprint of its
/// method record.
struct HotSpotCode {
    var method: HotSpotMethodKey
    var scopes: HotSpotScopes
    var fingerprints: [UInt64: UInt32]
    /// Bytes held, for the table's bound.
    var size: Int

    init(_ record: HotSpotCodeRecord, layout: HotSpotLayout) {
        method = HotSpotMethodKey(method: record.method, fingerprint: record.methodFingerprint)
        scopes = HotSpotScopes(pcDescs: record.pcDescs, pcDescSize: Int(layout.pcDescSize),
                               pcOffsetField: Int(layout.pcDescPCOffset), decodeOffsetField: Int(layout.pcDescScopeDecodeOffset),
                               scopes: record.scopes, metadata: record.metadata.map(\.address))
        fingerprints = Dictionary(record.metadata.filter { $0.fingerprint != 0 }.map { ($0.address, $0.fingerprint) },
                                  uniquingKeysWith: { first, _ in first })
        size = 64 + record.pcDescs.count + record.scopes.count + record.metadata.count * 24
    }

    /// The frames of the code at `pcOffset`, innermost first, each named by `method` with the
    /// line of its bci; the nmethod's own method last, without a line when the scopes do not
    /// cover the pc (cut copies, a pc past the last PcDesc). `complete` is false for a frame
    /// whose method record may still come.
    func frames(atPCOffset pcOffset: UInt32, method: (HotSpotMethodKey) -> HotSpotMethod?) -> [(Frame, complete: Bool)] {
        var frames: [(Frame, complete: Bool)] = []
        var outermost: UInt64 = 0
        for scope in scopes.scopes(atPCOffset: Int32(clamping: pcOffset)) where scope.method != 0 {
            let key = HotSpotMethodKey(method: scope.method, fingerprint: scope.method == self.method.method
                                       ? self.method.fingerprint : fingerprints[scope.method] ?? 0)
            frames.append(Symbolizer.hotspotFrame(address: scope.method, method: method(key), bci: scope.bci))
            outermost = scope.method
        }
        if outermost != self.method.method {
            frames.append(Symbolizer.hotspotFrame(address: self.method.method, method: method(self.method), bci: nil))
        }
        return frames
    }
}

/// The nmethods a stream described, per process, within one bound over all processes: a
/// count, and the bytes their scopes take (at most the walker's copies, ~4.5 KB each).
struct HotSpotCodeTable {
    private var codes: [Int32: [HotSpotMethodKey: HotSpotCode]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per code the byte bound allows: `limit × bytesPerCode`.
    static let bytesPerCode = 1024

    func code(pid: Int32, _ key: HotSpotMethodKey) -> HotSpotCode? { codes[pid]?[key] }

    /// Stores an nmethod's scopes; false when `limit` of them, or `limit × bytesPerCode` bytes, are held already.
    mutating func insert(_ code: HotSpotCode, pid: Int32, key: HotSpotMethodKey, limit: Int) -> Bool {
        let replaced = codes[pid]?[key]?.size
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + code.size <= limit * Self.bytesPerCode else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += code.size - (replaced ?? 0)
        codes[pid, default: [:]][key] = code
        return true
    }

    mutating func remove(pid: Int32) {
        guard let removed = codes.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + $1.size }
    }

    mutating func removeAll() {
        codes = [:]
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
        // Interpreted frames carry the bci; other kinds without a code record a pc offset:
        // they show the method without a line.
        hotspotFrame(address: frame.method, method: method,
                     bci: frame.kind == .interpreted ? Int32(bitPattern: frame.position) : nil)
    }

    /// A Java frame of the method at `address`, with the line of `bci` (nil: no line).
    static func hotspotFrame(address: UInt64, method: HotSpotMethod?, bci: Int32?) -> (Frame, complete: Bool) {
        guard let method else { return (Frame(type: .jvm, address: address), address == 0) }
        let line = bci.map { method.line(forBCI: $0) } ?? 0
        return (Frame(type: .jvm, address: address, functionName: method.qualifiedName,
                      sourceFile: method.sourceFile.isEmpty ? nil : method.sourceFile, sourceLine: UInt32(clamping: line)),
                true)
    }
}
