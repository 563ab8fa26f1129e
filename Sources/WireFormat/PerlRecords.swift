/// Perl frames on the wire (docs/perl.md, docs/wire-format.md): a sample's Perl frames
/// as a stack of kind `perl`, and the subs they name.

/// One Perl frame of a sample, as the sampler's BPF walker found it.
public struct PerlFrame: Hashable, Sendable {
    /// The sub's CV address in the process; for a main program's frame, its file name string's.
    public var address: UInt64
    /// Tells subs apart that lived at the same address (docs/perl.md); 0 when unreadable.
    public var fingerprint: UInt32
    /// The line running in the frame, 24 bits; 0 when unknown.
    public var line: UInt32
    public var flags: PerlFrameFlags

    /// The largest line a frame carries; larger lines are sent as 0 (unknown).
    public static let maximumLine: UInt32 = 0xff_ffff

    public init(address: UInt64, fingerprint: UInt32, line: UInt32, flags: PerlFrameFlags) {
        self.address = address
        self.fingerprint = fingerprint
        self.line = line > Self.maximumLine ? 0 : line
        self.flags = flags
    }

    /// The two words of a `perl` stack: the address, then `fingerprint << 32 | line << 8 | flags`.
    public var words: (UInt64, UInt64) {
        (address, UInt64(fingerprint) << 32 | UInt64(line & Self.maximumLine) << 8 | UInt64(flags.rawValue))
    }

    public init(words first: UInt64, _ second: UInt64) {
        self.address = first
        self.fingerprint = UInt32(truncatingIfNeeded: second >> 32)
        self.line = UInt32(truncatingIfNeeded: second >> 8) & Self.maximumLine
        self.flags = PerlFrameFlags(rawValue: UInt8(truncatingIfNeeded: second))
    }

    /// The frames of a `perl` stack's words (an even count; the decoder checks it).
    public static func frames(words: [UInt64]) -> [PerlFrame] {
        stride(from: 0, to: words.count - 1, by: 2).map { PerlFrame(words: words[$0], words[$0 + 1]) }
    }
}

/// `tandem_perl_frame_flags`.
public struct PerlFrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The first frame of its runloop: a native `Perl_runops_standard` frame comes next toward the root.
    public static let entry = PerlFrameFlags(rawValue: 1)
    /// The CV could not be read.
    public static let unreadable = PerlFrameFlags(rawValue: 2)
    /// Code outside any sub: `address` is the main program's file name string.
    public static let mainProgram = PerlFrameFlags(rawValue: 4)
    /// An `eval` block or string (no sub, address 0).
    public static let eval = PerlFrameFlags(rawValue: 8)
}

/// `tandem_perl_walk_flags`, carried by a sample.
public struct PerlWalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let truncated = PerlWalkFlags(rawValue: 1)
    /// The sampled thread has no interpreter.
    public static let noThread = PerlWalkFlags(rawValue: 2)
    public static let readError = PerlWalkFlags(rawValue: 4)
}

/// A sub, as the walker copied it from the process (record 24): raw copies of its name's
/// and its package's HEKs and of its file name, possibly cut. Untrusted bytes: the
/// aggregator parses them with the layout of `perlVersion`.
public struct PerlSubRecord: Hashable, Sendable {
    public var pid: Int32
    /// The CV's address (a main program's record: its file name string's).
    public var address: UInt64
    public var fingerprint: UInt32
    /// The interpreter's release, `revision << 16 | version << 8 | subversion`.
    public var perlVersion: UInt32
    /// `tandem_perl_sub_flags`: which copies were cut or unreadable, and whether it is a main program.
    public var flags: UInt32
    public var name: [UInt8]
    public var package: [UInt8]
    public var file: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_perl.h).
    public static let maximumCopyBytes = 1024

    public init(pid: Int32, address: UInt64, fingerprint: UInt32, perlVersion: UInt32, flags: UInt32,
                name: [UInt8], package: [UInt8], file: [UInt8]) {
        self.pid = pid
        self.address = address
        self.fingerprint = fingerprint
        self.perlVersion = perlVersion
        self.flags = flags
        self.name = name
        self.package = package
        self.file = file
    }
}

/// A process with a Perl interpreter (docs/perl.md), control record 25: the release names
/// one of the sampler's own layouts, and `threadKeyAddress` (`&PL_thr_key`) must lie in a
/// writable mapping of the file (`device`, `inode`) that the process also maps executable.
/// The aggregator sends no offset; the sampler refuses anything it cannot check.
public struct PerlProcess: Hashable, Sendable {
    public var pid: Int32
    /// `revision << 16 | version << 8 | subversion`, e.g. 0x052400.
    public var perlVersion: UInt32
    public var threadKeyAddress: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, perlVersion: UInt32, threadKeyAddress: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.perlVersion = perlVersion
        self.threadKeyAddress = threadKeyAddress
        self.device = device
        self.inode = inode
    }
}

extension ByteWriter {
    mutating func writePerlSub(_ sub: PerlSubRecord) {
        writeInt32(sub.pid)
        writeVarint(sub.address)
        writeVarint(sub.fingerprint)
        writeVarint(sub.perlVersion)
        writeVarint(sub.flags)
        for copy in [sub.name, sub.package, sub.file] {
            let kept = copy.prefix(PerlSubRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
