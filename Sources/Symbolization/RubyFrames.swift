import Profiles
import RubyLayouts
import RubySymbolization
import WireFormat

/// An iseq of one process, as its iseq record named it.
struct RubyISeqKey: Hashable {
    var iseq: UInt64
    var fingerprint: UInt32
}

/// The iseqs a stream described, per process, within one bound over all processes: a count,
/// and the bytes their strings and line tables take (as `CPythonCodeTable` bounds code objects).
struct RubyISeqTable {
    private var iseqs: [Int32: [RubyISeqKey: RubyISeq]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per iseq the byte bound allows: `limit × bytesPerISeq`.
    static let bytesPerISeq = 1024

    func iseq(pid: Int32, _ key: RubyISeqKey) -> RubyISeq? { iseqs[pid]?[key] }

    static func size(of iseq: RubyISeq) -> Int {
        64 + iseq.label.utf8.count + iseq.path.utf8.count + iseq.lineTable.lines.count * 4
            + iseq.lineTable.succinctTable.count
    }

    /// Stores a decoded iseq; false when `limit` iseqs, or `limit × bytesPerISeq` bytes of them, are held already.
    mutating func insert(_ iseq: RubyISeq, pid: Int32, key: RubyISeqKey, limit: Int) -> Bool {
        let size = Self.size(of: iseq)
        let replaced = iseqs[pid]?[key].map(Self.size(of:))
        guard (replaced != nil || count < limit), bytes - (replaced ?? 0) + size <= limit * Self.bytesPerISeq else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        iseqs[pid, default: [:]][key] = iseq
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = iseqs.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + Self.size(of: $1) }
    }

    mutating func removeAll() {
        iseqs = [:]
        count = 0
        bytes = 0
    }
}

/// Ruby frames into the native stack (docs/ruby.md): each `vm_exec` call's Ruby frames go
/// just before (leafward of) the native frame of the exec loop it runs, so that a sample taken
/// while the loop interprets has a Ruby leaf, as a CPython one has a Python leaf. The loop is
/// the frame `rb_vm_exec` (exported) called: `vm_exec_core`, static and unnamed in Debian's
/// stripped libruby, named where symbols are. A frame there with another name (the loop inlined
/// into `rb_vm_exec` in some build, a helper on top) is not the loop: the Ruby frames then go
/// just before `rb_vm_exec` itself. Ruby frames left when the native frames end (a walk cut
/// short) go at the root end.
enum RubyFrameMerge {
    static let execFunction = "rb_vm_exec"
    static let loopFunction = "vm_exec_core"

    /// Gives each C-method frame (leaf first, as `ruby`) the path and line of its caller, the
    /// next Ruby-method frame toward the root, as Ruby 3.1's backtraces do (vm_backtrace.c: a
    /// cfunc location's path and line are its `prev_loc`'s); none when no Ruby frame calls it.
    static func locateCMethods(_ ruby: inout [Frame], cMethods: [Bool]) {
        var caller: (file: String?, line: UInt32) = (nil, 0)
        for index in ruby.indices.reversed() {
            if cMethods[index] {
                ruby[index].sourceFile = caller.file
                ruby[index].sourceLine = caller.line
            } else {
                caller = (ruby[index].sourceFile, ruby[index].sourceLine)
            }
        }
    }

    /// `ruby` is leaf first; `frames[userStart...]` are the native user frames.
    static func merge(_ ruby: [Frame], entries: [Bool], into frames: [Frame], userStart: Int) -> [Frame] {
        var points = Set<Int>()
        for index in userStart..<frames.count where frames[index].type == .native && frames[index].functionName == execFunction {
            let callee = index - 1
            if callee >= userStart, frames[callee].type == .native,
               frames[callee].functionName == nil || frames[callee].functionName == loopFunction {
                points.insert(callee)
            } else {
                points.insert(index)
            }
        }
        var merged: [Frame] = []
        merged.reserveCapacity(frames.count + ruby.count)
        merged.append(contentsOf: frames[..<userStart])
        var next = 0
        for index in userStart..<frames.count {
            if points.contains(index) {
                while next < ruby.count {
                    merged.append(ruby[next])
                    next += 1
                    if entries[next - 1] { break }
                }
            }
            merged.append(frames[index])
        }
        merged.append(contentsOf: ruby[next...])
        return merged
    }
}

extension Symbolizer {
    /// A Ruby frame: named by its iseq's label when its iseq record came, else by the iseq's
    /// address. `complete` is false for a frame whose iseq record may still come.
    static func rubyFrame(_ frame: RubyFrame, iseq: RubyISeq?) -> (Frame, complete: Bool) {
        guard let iseq else {
            return (Frame(type: .ruby, address: frame.iseq), frame.flags.contains(.iseqUnreadable))
        }
        if iseq.isCMethod { return (Frame(type: .ruby, address: frame.iseq, functionName: iseq.label), true) }
        let line = frame.position == RubyFrame.unknownPosition ? iseq.firstLine : iseq.line(atPosition: frame.position)
        return (Frame(type: .ruby, address: frame.iseq, functionName: iseq.label,
                      sourceFile: iseq.path, sourceLine: UInt32(clamping: line)), true)
    }

    /// The layout that reads an iseq record of `version` (`major << 8 | minor`).
    static func rubyLayout(version: UInt32) -> RubyLayout? {
        guard version <= 0xffff else { return nil }
        return RubyLayout.layout(for: RubyVersion(major: UInt8(version >> 8), minor: UInt8(version & 0xff)))
    }
}
