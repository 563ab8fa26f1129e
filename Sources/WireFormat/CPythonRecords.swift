/// CPython frames on the wire (docs/cpython.md, docs/wire-format.md 5.14): a sample's
/// Python frames as a stack of kind `cpython`, and the code objects they name.

/// One Python frame of a sample, as the sampler's BPF walker found it.
public struct CPythonFrame: Hashable, Sendable {
    /// The code object's address in the process.
    public var code: UInt64
    /// Tells code objects apart that lived at the same address (docs/cpython.md).
    public var fingerprint: UInt32
    /// The frame's instruction (`tandem_cpython_frame.instruction`), 24 bits; `unknownInstruction` when not known.
    public var instruction: UInt32
    public var flags: CPythonFrameFlags

    /// The instruction value of a frame whose instruction is not known.
    public static let unknownInstruction: UInt32 = 0xff_ffff

    public init(code: UInt64, fingerprint: UInt32, instruction: UInt32, flags: CPythonFrameFlags) {
        self.code = code
        self.fingerprint = fingerprint
        self.instruction = min(instruction, Self.unknownInstruction)
        self.flags = flags
    }

    /// The two words of a `cpython` stack: the code address, then
    /// `fingerprint << 32 | instruction << 8 | flags`.
    public var words: (UInt64, UInt64) {
        (code, UInt64(fingerprint) << 32 | UInt64(instruction & 0xff_ffff) << 8 | UInt64(flags.rawValue))
    }

    public init(words first: UInt64, _ second: UInt64) {
        self.code = first
        self.fingerprint = UInt32(truncatingIfNeeded: second >> 32)
        self.instruction = UInt32(truncatingIfNeeded: second >> 8) & 0xff_ffff
        self.flags = CPythonFrameFlags(rawValue: UInt8(truncatingIfNeeded: second))
    }

    /// The frames of a `cpython` stack's words (an even count; the decoder checks it).
    public static func frames(words: [UInt64]) -> [CPythonFrame] {
        stride(from: 0, to: words.count - 1, by: 2).map { CPythonFrame(words: words[$0], words[$0 + 1]) }
    }
}

/// `tandem_cpython_frame_flags`.
public struct CPythonFrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The first frame its C-level evaluation ran: a native `_PyEval_EvalFrameDefault`
    /// frame comes next toward the root.
    public static let entry = CPythonFrameFlags(rawValue: 1)
    /// The code object could not be read.
    public static let codeUnreadable = CPythonFrameFlags(rawValue: 2)
}

/// `tandem_cpython_walk_flags`, carried by a sample.
public struct CPythonWalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let truncated = CPythonWalkFlags(rawValue: 1)
    /// The sampled thread has no Python thread state.
    public static let noThread = CPythonWalkFlags(rawValue: 2)
    public static let readError = CPythonWalkFlags(rawValue: 4)
}

/// A code object, as the walker copied it from the process (record 18): raw copies of
/// the object's header and of the objects it points to, each from the object's first
/// byte and possibly cut. Untrusted bytes: the aggregator parses them with the layout
/// of `pythonVersion`.
public struct CPythonCodeRecord: Hashable, Sendable {
    public var pid: Int32
    public var code: UInt64
    public var fingerprint: UInt32
    /// The interpreter's version, `major << 8 | minor`.
    public var pythonVersion: UInt32
    /// `tandem_cpython_code_flags`: which copies were cut or unreadable.
    public var flags: UInt32
    public var header: [UInt8]
    public var name: [UInt8]
    public var qualifiedName: [UInt8]
    public var fileName: [UInt8]
    public var lineTable: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_cpython.h).
    public static let maximumCopyBytes = 8192

    public init(pid: Int32, code: UInt64, fingerprint: UInt32, pythonVersion: UInt32, flags: UInt32,
                header: [UInt8], name: [UInt8], qualifiedName: [UInt8], fileName: [UInt8], lineTable: [UInt8]) {
        self.pid = pid
        self.code = code
        self.fingerprint = fingerprint
        self.pythonVersion = pythonVersion
        self.flags = flags
        self.header = header
        self.name = name
        self.qualifiedName = qualifiedName
        self.fileName = fileName
        self.lineTable = lineTable
    }
}

extension ByteWriter {
    mutating func writeCPythonCode(_ code: CPythonCodeRecord) {
        writeInt32(code.pid)
        writeVarint(code.code)
        writeVarint(code.fingerprint)
        writeVarint(code.pythonVersion)
        writeVarint(code.flags)
        for copy in [code.header, code.name, code.qualifiedName, code.fileName, code.lineTable] {
            let kept = copy.prefix(CPythonCodeRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
