/// V8 (Node.js) JavaScript frames on the wire (docs/v8.md, docs/wire-format.md): a sample's
/// JavaScript frames as a stack of kind `v8`, and the functions they name.

/// One JavaScript frame of a sample, as the sampler's BPF walker found it.
public struct V8Frame: Hashable, Sendable {
    /// The frame's pc as the native walk sees it (the sampled pc for the innermost frame,
    /// else the return address into it): the native frame this one replaces.
    public var pc: UInt64
    /// The function's SharedFunctionInfo (tagged address): its identity with `fingerprint`.
    public var sharedFunctionInfo: UInt64
    /// Tells functions apart that lived at the same address (docs/v8.md).
    public var fingerprint: UInt32
    /// Bytecode offset (interpreted) or machine-code offset (compiled); `unknownOffset` when not known.
    public var offset: UInt32
    public var kind: V8FrameKind
    /// V8's `CodeKind` of the function's code (0xff: unknown).
    public var codeKind: UInt8
    public var flags: V8FrameFlags
    /// Optimized code with the pc in it: the fingerprint of its code record (record 32, keyed
    /// by `pc - offset` and this), which names the functions inlined into it; 0: none.
    public var codeFingerprint: UInt32

    public static let unknownOffset: UInt32 = 0xffff_ffff

    public init(pc: UInt64, sharedFunctionInfo: UInt64, fingerprint: UInt32, offset: UInt32, kind: V8FrameKind,
                codeKind: UInt8, flags: V8FrameFlags, codeFingerprint: UInt32 = 0) {
        self.pc = pc
        self.sharedFunctionInfo = sharedFunctionInfo
        self.fingerprint = fingerprint
        self.offset = offset
        self.kind = kind
        self.codeKind = codeKind
        self.flags = flags
        self.codeFingerprint = codeFingerprint
    }

    /// Words per frame in a `v8` stack.
    public static let wordCount = 4

    /// The four words of a `v8` stack: pc, SharedFunctionInfo, `fingerprint << 32 | offset`,
    /// `codeFingerprint << 32 | flags << 16 | codeKind << 8 | kind`.
    public var words: [UInt64] {
        [pc, sharedFunctionInfo, UInt64(fingerprint) << 32 | UInt64(offset),
         UInt64(codeFingerprint) << 32 | UInt64(flags.rawValue) << 16 | UInt64(codeKind) << 8 | UInt64(kind.rawValue)]
    }

    public init(words: ArraySlice<UInt64>) {
        let base = words.startIndex
        pc = words[base]
        sharedFunctionInfo = words[base + 1]
        fingerprint = UInt32(truncatingIfNeeded: words[base + 2] >> 32)
        offset = UInt32(truncatingIfNeeded: words[base + 2])
        kind = V8FrameKind(rawValue: UInt8(truncatingIfNeeded: words[base + 3])) ?? .unknown
        codeKind = UInt8(truncatingIfNeeded: words[base + 3] >> 8)
        flags = V8FrameFlags(rawValue: UInt16(truncatingIfNeeded: words[base + 3] >> 16))
        codeFingerprint = UInt32(truncatingIfNeeded: words[base + 3] >> 32)
    }

    /// The frames of a `v8` stack's words (a multiple of four; the decoder checks it).
    public static func frames(words: [UInt64]) -> [V8Frame] {
        stride(from: 0, to: words.count - (wordCount - 1), by: wordCount).map {
            V8Frame(words: words[$0..<$0 + wordCount])
        }
    }
}

/// `tandem_v8_frame_kind`.
public enum V8FrameKind: UInt8, Hashable, Sendable {
    case unknown = 0
    /// Ignition bytecode: the offset is a bytecode offset.
    case interpreted = 1
    /// Sparkplug, Maglev or TurboFan code: the offset is from the code's first instruction.
    case compiled = 2
}

/// `tandem_v8_frame_flags`.
public struct V8FrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The SharedFunctionInfo could not be read: no function record names the frame.
    public static let functionUnreadable = V8FrameFlags(rawValue: 1)
    /// A compiled frame whose pc lies outside the function's current code.
    public static let pcOutsideCode = V8FrameFlags(rawValue: 2)
    /// The pc is the sampled one (the innermost frame), not a return address.
    public static let sampledPC = V8FrameFlags(rawValue: 4)
}

/// `tandem_v8_walk_flags`, carried by a sample.
public struct V8WalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let truncated = V8WalkFlags(rawValue: 1)
    public static let readError = V8WalkFlags(rawValue: 2)
}

/// A JavaScript function, as the walker copied it from the process (record 22): raw copies
/// of its SharedFunctionInfo, its ScopeInfo's slots, its name string and its script's name
/// string, each from the object's first byte, and its bytecode's source position table,
/// each possibly cut. Untrusted bytes: the
/// aggregator parses them with the layout of `v8Version`.
public struct V8FunctionRecord: Hashable, Sendable {
    public var pid: Int32
    public var sharedFunctionInfo: UInt64
    public var fingerprint: UInt32
    /// The layout's V8 version, `major << 24 | minor << 16 | build`.
    public var v8Version: UInt32
    /// `tandem_v8_function_flags`: which copies were cut or unreadable, and where the name came from.
    public var flags: UInt32
    /// The instance types of the two strings (their maps'), for decoding their characters.
    public var nameType: UInt16
    public var scriptNameType: UInt16
    public var sharedFunctionInfoBytes: [UInt8]
    public var scopeInfoSlots: [UInt8]
    public var name: [UInt8]
    public var scriptName: [UInt8]
    /// The data of the function's bytecode source position table (interpreted frames' lines;
    /// empty when the walker sent none).
    public var bytecodePositionTable: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_v8.h).
    public static let maximumCopyBytes = 4096

    public init(pid: Int32, sharedFunctionInfo: UInt64, fingerprint: UInt32, v8Version: UInt32, flags: UInt32,
                nameType: UInt16, scriptNameType: UInt16, sharedFunctionInfoBytes: [UInt8], scopeInfoSlots: [UInt8],
                name: [UInt8], scriptName: [UInt8], bytecodePositionTable: [UInt8] = []) {
        self.pid = pid
        self.sharedFunctionInfo = sharedFunctionInfo
        self.fingerprint = fingerprint
        self.v8Version = v8Version
        self.flags = flags
        self.nameType = nameType
        self.scriptNameType = scriptNameType
        self.sharedFunctionInfoBytes = sharedFunctionInfoBytes
        self.scopeInfoSlots = scopeInfoSlots
        self.name = name
        self.scriptName = scriptName
        self.bytecodePositionTable = bytecodePositionTable
    }

    /// The copies in their order on the wire; the last (the table) was added later: a
    /// record that ends before it has none.
    var copies: [[UInt8]] { [sharedFunctionInfoBytes, scopeInfoSlots, name, scriptName, bytecodePositionTable] }
}

/// A process running V8 (docs/v8.md; control record 23): the V8 build names one of the
/// sampler's own layouts, and `address` (a postmortem-metadata symbol of that build, in
/// the process) must lie in a mapping of the file (`device`, `inode`) the process also maps
/// executable. The aggregator sends no offset; the sampler refuses anything it cannot check.
public struct V8Process: Hashable, Sendable {
    public var pid: Int32
    /// `major << 24 | minor << 16 | build`.
    public var v8Version: UInt32
    public var v8Patch: UInt32
    public var address: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, v8Version: UInt32, v8Patch: UInt32, address: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.v8Version = v8Version
        self.v8Patch = v8Patch
        self.address = address
        self.device = device
        self.inode = inode
    }
}

extension ByteWriter {
    mutating func writeV8Function(_ function: V8FunctionRecord) {
        writeInt32(function.pid)
        writeVarint(function.sharedFunctionInfo)
        writeVarint(function.fingerprint)
        writeVarint(function.v8Version)
        writeVarint(function.flags)
        writeVarint(UInt64(function.nameType))
        writeVarint(UInt64(function.scriptNameType))
        for copy in function.copies {
            let kept = copy.prefix(V8FunctionRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
