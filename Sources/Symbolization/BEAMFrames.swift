import BEAMLayouts
import BEAMSymbolization
import Profiles
import WireFormat

/// A function of one process, by its `ErtsCodeInfo` address.
struct BEAMFunctionKey: Hashable {
    var pid: Int32
    var codeInfo: UInt64
}

/// What a frame of one Erlang function shows: its name, and its lines when its module has a
/// line table.
struct BEAMFunctionEntry {
    var name: String
    var lines: BEAMLines?
}

/// The Erlang functions a stream described, within one bound over all processes: a count,
/// and the bytes their names and lines take (a hostile stream can make each name as long as
/// the decoder allows, 1,020 bytes, and each function 4,096 lines).
struct BEAMFunctionTable {
    private var functions: [BEAMFunctionKey: BEAMFunctionEntry] = [:]
    private var byProcess: [Int32: Set<UInt64>] = [:]
    private(set) var bytes = 0
    var count: Int { functions.count }
    /// Average bytes per function the byte bound allows: `limit × bytesPerFunction` (a name
    /// and a dozen lines).
    static let bytesPerFunction = 512

    func function(pid: Int32, codeInfo: UInt64) -> BEAMFunctionEntry? { functions[BEAMFunctionKey(pid: pid, codeInfo: codeInfo)] }

    static func size(of entry: BEAMFunctionEntry) -> Int { 48 + entry.name.utf8.count + (entry.lines?.size ?? 0) }

    /// Stores a function; false when `limit` functions, or `limit × bytesPerFunction` bytes of
    /// them, are held already.
    mutating func insert(_ entry: BEAMFunctionEntry, pid: Int32, codeInfo: UInt64, limit: Int) -> Bool {
        let key = BEAMFunctionKey(pid: pid, codeInfo: codeInfo)
        let replaced = functions[key].map(Self.size(of:))
        let size = Self.size(of: entry)
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + size <= limit * Self.bytesPerFunction else {
            return false
        }
        bytes += size - (replaced ?? 0)
        functions[key] = entry
        byProcess[pid, default: []].insert(codeInfo)
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = byProcess.removeValue(forKey: pid) else { return }
        for codeInfo in removed {
            if let entry = functions.removeValue(forKey: BEAMFunctionKey(pid: pid, codeInfo: codeInfo)) {
                bytes -= Self.size(of: entry)
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

    /// A C leaf's Erlang frames (`erlang`, leaf first) go rootward of its C frames, in place
    /// of the JIT frame the native walk ended at (the first `beam`-typed user frame: the code
    /// that called into C) and of anything the walk found past it: the Erlang stack's bottom
    /// is the sample's root, as for a JIT leaf. On a dirty scheduler's thread (no JIT frame)
    /// they go rootward of its loop, `erts_dirty_process_main`, in place of the thread's start;
    /// without either, rootward of all.
    static func mergeBelowC(_ erlang: [Frame], into frames: [Frame], userStart: Int) -> [Frame] {
        let user = frames[userStart...]
        let cut = user.firstIndex(where: { $0.type == .beam })
            ?? user.firstIndex(where: { $0.functionName == dirtySchedulerLoop }).map { $0 + 1 }
            ?? frames.count
        return Array(frames[..<cut]) + erlang
    }

    /// The dirty schedulers' loop (erl_process.c), the outermost frame kept below a dirty C leaf.
    static let dirtySchedulerLoop = "erts_dirty_process_main"
}

extension Symbolizer {
    /// An Erlang frame: named when its function record came, else by its pc, with its file
    /// and line when the function's lines hold its pc (`caller`: the pc is a return address).
    /// `complete` is false for a frame whose function record may still come.
    static func beamFrame(_ frame: BEAMFrame, function: BEAMFunctionEntry?, caller: Bool) -> (Frame, complete: Bool) {
        guard let function else { return (Frame(type: .beam, address: frame.pc), frame.codeInfo == 0) }
        guard let lines = function.lines, let line = lines.line(at: frame.pc, caller: caller) else {
            return (Frame(type: .beam, address: frame.pc, functionName: function.name), true)
        }
        return (Frame(type: .beam, address: frame.pc, functionName: function.name, sourceFile: lines.file,
                      sourceLine: line), true)
    }

    /// Whether a function record's ERTS major has a layout here.
    static func beamLayoutExists(ertsMajor: UInt32) -> Bool {
        guard let major = UInt8(exactly: ertsMajor) else { return false }
        return BEAMLayout.layout(ertsMajor: major) != nil
    }
}
