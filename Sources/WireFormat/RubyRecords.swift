/// Ruby frames on the wire (docs/ruby.md, docs/wire-format.md): a sample's Ruby frames as a
/// stack of kind `ruby`, the iseqs they name (record 26), and the control record that names a
/// process's VM to the sampler (27).

/// One Ruby (iseq) frame of a sample, as the sampler's BPF walker found it.
public struct RubyFrame: Hashable, Sendable {
    /// The iseq's address in the process.
    public var iseq: UInt64
    /// Tells iseqs apart that lived at the same address.
    public var fingerprint: UInt32
    /// The instruction position of the frame's pc (`tandem_ruby_frame.position`), 24 bits;
    /// `unknownPosition` when not known.
    public var position: UInt32
    public var flags: RubyFrameFlags

    public static let unknownPosition: UInt32 = 0xff_ffff

    public init(iseq: UInt64, fingerprint: UInt32, position: UInt32, flags: RubyFrameFlags) {
        self.iseq = iseq
        self.fingerprint = fingerprint
        self.position = min(position, Self.unknownPosition)
        self.flags = flags
    }

    /// The two words of a `ruby` stack: the iseq address, then
    /// `fingerprint << 32 | position << 8 | flags`.
    public var words: (UInt64, UInt64) {
        (iseq, UInt64(fingerprint) << 32 | UInt64(position & 0xff_ffff) << 8 | UInt64(flags.rawValue))
    }

    public init(words first: UInt64, _ second: UInt64) {
        self.iseq = first
        self.fingerprint = UInt32(truncatingIfNeeded: second >> 32)
        self.position = UInt32(truncatingIfNeeded: second >> 8) & 0xff_ffff
        self.flags = RubyFrameFlags(rawValue: UInt8(truncatingIfNeeded: second))
    }

    /// The frames of a `ruby` stack's words (an even count; the decoder checks it).
    public static func frames(words: [UInt64]) -> [RubyFrame] {
        stride(from: 0, to: words.count - 1, by: 2).map { RubyFrame(words: words[$0], words[$0 + 1]) }
    }
}

/// `tandem_ruby_frame_flags`.
public struct RubyFrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The first frame its `vm_exec` call ran: a native `rb_vm_exec` frame comes next toward the root.
    public static let entry = RubyFrameFlags(rawValue: 1)
    /// The iseq could not be read.
    public static let iseqUnreadable = RubyFrameFlags(rawValue: 2)
    /// A C method's frame: `iseq` is its method definition, named by a method record
    /// (`RubyISeqRecord.cMethodFlag`); no position.
    public static let cMethod = RubyFrameFlags(rawValue: 4)
}

/// `tandem_ruby_walk_flags`.
public struct RubyWalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let truncated = RubyWalkFlags(rawValue: 1)
    /// The sampled thread has no execution context.
    public static let noThread = RubyWalkFlags(rawValue: 2)
    public static let readError = RubyWalkFlags(rawValue: 4)
}

/// An iseq, as the walker copied it from the process (record 26): the first bytes of its
/// body, the characters of its label and path, its line entries and succinct index table,
/// each possibly cut. Untrusted bytes: the aggregator parses them with the layout of `rubyVersion`.
public struct RubyISeqRecord: Hashable, Sendable {
    public var pid: Int32
    public var iseq: UInt64
    public var fingerprint: UInt32
    /// The VM's version, `major << 8 | minor`.
    public var rubyVersion: UInt32
    /// `tandem_ruby_iseq_flags`: which copies were cut or unreadable.
    public var flags: UInt32
    public var body: [UInt8]
    public var label: [UInt8]
    public var path: [UInt8]
    public var lineEntries: [UInt8]
    public var succinctTable: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_ruby.h).
    public static let maximumCopyBytes = 8192
    /// `TANDEM_RUBY_ISEQ_C_METHOD`: a C method's record: `iseq` is its method definition,
    /// `label` its name; no body, path or lines.
    public static let cMethodFlag: UInt32 = 256

    public var isCMethod: Bool { flags & Self.cMethodFlag != 0 }

    public init(pid: Int32, iseq: UInt64, fingerprint: UInt32, rubyVersion: UInt32, flags: UInt32,
                body: [UInt8], label: [UInt8], path: [UInt8], lineEntries: [UInt8], succinctTable: [UInt8]) {
        self.pid = pid
        self.iseq = iseq
        self.fingerprint = fingerprint
        self.rubyVersion = rubyVersion
        self.flags = flags
        self.body = body
        self.label = label
        self.path = path
        self.lineEntries = lineEntries
        self.succinctTable = succinctTable
    }

    var copies: [[UInt8]] { [body, label, path, lineEntries, succinctTable] }
}

/// A process with a Ruby VM (docs/ruby.md; control record 27): the VM's version names one of
/// the sampler's own layouts; `moduleSlotAddress` (the GOT word of `ruby_current_ec`'s TLS
/// module id) must lie in a mapping of the file (`device`, `inode`), and `tlsOffset` within
/// `TANDEM_RUBY_MAX_TLS_OFFSET`; `globalSymbolsAddress` (0: not found), with the bytes the
/// walker reads there, in a writable, non-executable mapping of that file. The sampler refuses
/// anything it cannot check.
public struct RubyProcess: Hashable, Sendable {
    public var pid: Int32
    /// `major << 8 | minor`, e.g. 0x0301.
    public var rubyVersion: UInt32
    public var moduleSlotAddress: UInt64
    public var tlsOffset: UInt64
    public var device: UInt64
    public var inode: UInt64
    /// `ruby_global_symbols` (the VM's symbol table) in the process, which names C-method
    /// frames; 0 when the aggregator could not find it (C methods then get no frame).
    public var globalSymbolsAddress: UInt64

    public init(pid: Int32, rubyVersion: UInt32, moduleSlotAddress: UInt64, tlsOffset: UInt64, device: UInt64,
                inode: UInt64, globalSymbolsAddress: UInt64 = 0) {
        self.pid = pid
        self.rubyVersion = rubyVersion
        self.moduleSlotAddress = moduleSlotAddress
        self.tlsOffset = tlsOffset
        self.device = device
        self.inode = inode
        self.globalSymbolsAddress = globalSymbolsAddress
    }
}

extension ByteWriter {
    mutating func writeRubyISeq(_ record: RubyISeqRecord) {
        writeInt32(record.pid)
        writeVarint(record.iseq)
        writeVarint(record.fingerprint)
        writeVarint(record.rubyVersion)
        writeVarint(record.flags)
        for copy in record.copies {
            let kept = copy.prefix(RubyISeqRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
