import PerlLayouts
import PerlSymbolization
import Profiles
import WireFormat

/// A sub of one process, as its sub record named it.
struct PerlSubKey: Hashable {
    var address: UInt64
    var fingerprint: UInt32
}

/// The subs a stream described, per process, within one bound over all processes: a count,
/// and the bytes their names and files take (a hostile stream can make each copy as long as
/// the decoder allows, 1 KiB).
struct PerlSubTable {
    private var subs: [Int32: [PerlSubKey: PerlSub]] = [:]
    private(set) var count = 0
    private(set) var bytes = 0
    /// Average bytes per sub the byte bound allows: `limit × bytesPerSub` (the walker copies
    /// at most 528 bytes of a sub's names and file).
    static let bytesPerSub = 512

    func sub(pid: Int32, _ key: PerlSubKey) -> PerlSub? { subs[pid]?[key] }

    static func size(of sub: PerlSub) -> Int { 64 + sub.name.utf8.count + sub.file.utf8.count }

    /// Stores a parsed sub; false when `limit` subs, or `limit × bytesPerSub` bytes of them, are held already.
    mutating func insert(_ sub: PerlSub, pid: Int32, key: PerlSubKey, limit: Int) -> Bool {
        let size = Self.size(of: sub)
        let replaced = subs[pid]?[key].map(Self.size(of:))
        guard replaced != nil || count < limit, bytes - (replaced ?? 0) + size <= limit * Self.bytesPerSub else {
            return false
        }
        if replaced == nil { count += 1 }
        bytes += size - (replaced ?? 0)
        subs[pid, default: [:]][key] = sub
        return true
    }

    /// The process's address space is gone (exit, exec, a reused pid).
    mutating func remove(pid: Int32) {
        guard let removed = subs.removeValue(forKey: pid) else { return }
        count -= removed.count
        bytes -= removed.values.reduce(0) { $0 + Self.size(of: $1) }
    }

    mutating func removeAll() {
        subs = [:]
        count = 0
        bytes = 0
    }
}

/// Perl's frames merge into the native stack at the interpreter's run loop (docs/perl.md):
/// one run loop runs every sub called from Perl code; a sub called from C, or a new
/// runlevel (sort block, signal handler), runs in a run loop of its own.
enum PerlFrameMerge {
    /// The run loops of a perl: the standard one, and the one `-D` debugging selects.
    static let runLoops: Set<String> = ["Perl_runops_standard", "Perl_runops_debug"]
}

extension Symbolizer {
    /// A Perl frame: named when its sub record came, else by its address.
    /// `complete` is false for a frame whose sub record may still come.
    static func perlFrame(_ frame: PerlFrame, sub: PerlSub?) -> (Frame, complete: Bool) {
        let line = frame.line
        if frame.flags.contains(.eval) {
            return (Frame(type: .perl, address: 0, functionName: "(eval)", sourceLine: line), true)
        }
        guard let sub else {
            return (Frame(type: .perl, address: frame.address), frame.flags.contains(.unreadable))
        }
        return (Frame(type: .perl, address: frame.address, functionName: sub.name,
                      sourceFile: sub.file.isEmpty ? nil : sub.file, sourceLine: line), true)
    }

    /// The layout that reads a sub record of `version` (`revision << 16 | version << 8 | subversion`).
    static func perlLayout(version: UInt32) -> PerlLayout? {
        guard version <= 0xff_ffff else { return nil }
        let release = PerlVersion(revision: UInt8(version >> 16), version: UInt8(version >> 8 & 0xff),
                                  subversion: UInt8(version & 0xff))
        return PerlLayout.index(of: release).map { PerlLayout.supported[$0] }
    }
}
