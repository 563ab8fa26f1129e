import BEAMLayouts
import BEAMSymbolization
import Profiles
import WireFormat

/// A function of one process, by its `ErtsCodeInfo` address.
struct BEAMFunctionKey: Hashable {
    var pid: Int32
    var codeInfo: UInt64
}

/// The Erlang functions a stream described, within one bound over all processes: a count,
/// and the bytes their names take (a hostile stream can make each name as long as the
/// decoder allows, 1,020 bytes).
struct BEAMFunctionTable {
    private var functions: [BEAMFunctionKey: String] = [:]
    private var byProcess: [Int32: Set<UInt64>] = [:]
    private(set) var bytes = 0
    var count: Int { functions.count }
    /// Average bytes per function the byte bound allows: `limit × bytesPerFunction`.
    static let bytesPerFunction = 128

    func name(pid: Int32, codeInfo: UInt64) -> String? { functions[BEAMFunctionKey(pid: pid, codeInfo: codeInfo)] }

    static func size(of name: String) -> Int { 48 + name.utf8.count }

    /// Stores a function's name; false when `limit` functions, or `limit × bytesPerFunction`
    /// bytes of them, are held already.
    mutating func insert(_ name: String, pid: Int32, codeInfo: UInt64, limit: Int) -> Bool {
        let key = BEAMFunctionKey(pid: pid, codeInfo: codeInfo)
        let replaced = functions[key].map(Self.size(of:))
        let size = Self.size(of: name)
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + size <= limit * Self.bytesPerFunction else {
            return false
        }
        bytes += size - (replaced ?? 0)
        functions[key] = name
        byProcess[pid, default: []].insert(codeInfo)
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = byProcess.removeValue(forKey: pid) else { return }
        for codeInfo in removed {
            if let name = functions.removeValue(forKey: BEAMFunctionKey(pid: pid, codeInfo: codeInfo)) {
                bytes -= Self.size(of: name)
            }
        }
    }

    mutating func removeAll() {
        functions = [:]
        byProcess = [:]
        bytes = 0
    }
}

/// Erlang frames replace the native stack's JIT leaf (docs/beam.md): JIT code keeps no
/// frame pointers and has no unwind tables, so the native walk stops at that frame (or guesses
/// past it); the walker's frames, read from the Erlang process's own stack, stand for it and
/// for everything the native walk found rootward of it in JIT code.
enum BEAMFrameMerge {
    /// `erlang` is leaf first; its first frame's pc is the sample's user pc.
    /// `frames[userStart...]` are the native user frames.
    static func merge(_ erlang: [Frame], leafPC: UInt64, into frames: [Frame], userStart: Int) -> [Frame] {
        var merged = Array(frames[..<userStart])
        merged.reserveCapacity(frames.count + erlang.count)
        guard let leaf = frames[userStart...].firstIndex(where: { $0.address == leafPC && $0.type != .kernel }) else {
            merged.append(contentsOf: erlang)
            merged.append(contentsOf: frames[userStart...])
            return merged
        }
        merged.append(contentsOf: frames[userStart..<leaf])
        merged.append(contentsOf: erlang)
        // The native walk's guesses inside JIT code past the leaf: the Erlang frames have them.
        var rest = leaf + 1
        while rest < frames.count, frames[rest].type == .beam { rest += 1 }
        merged.append(contentsOf: frames[rest...])
        return merged
    }
}

extension Symbolizer {
    /// An Erlang frame: named when its function record came, else by its pc. `complete` is
    /// false for a frame whose function record may still come.
    static func beamFrame(_ frame: BEAMFrame, name: String?) -> (Frame, complete: Bool) {
        guard let name else { return (Frame(type: .beam, address: frame.pc), frame.codeInfo == 0) }
        return (Frame(type: .beam, address: frame.pc, functionName: name), true)
    }

    /// Whether a function record's ERTS major has a layout here.
    static func beamLayoutExists(ertsMajor: UInt32) -> Bool {
        guard let major = UInt8(exactly: ertsMajor) else { return false }
        return BEAMLayout.layout(ertsMajor: major) != nil
    }
}
