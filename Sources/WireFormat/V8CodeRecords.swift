/// Optimized V8 code on the wire (docs/v8.md, docs/wire-format.md record 32): what names the
/// functions TurboFan or Maglev inlined into a code object.

/// A function inlined into a code object: the key of its function record (record 22).
public struct V8InlinedFunction: Hashable, Sendable {
    public var sharedFunctionInfo: UInt64
    public var fingerprint: UInt32

    public init(sharedFunctionInfo: UInt64, fingerprint: UInt32) {
        self.sharedFunctionInfo = sharedFunctionInfo
        self.fingerprint = fingerprint
    }
}

/// An optimized code object, as the walker copied it from the process (record 32): the
/// functions inlined into it (the first entries of its deoptimization data's literal array),
/// the data of its inlining-positions ByteArray and of its source position table. A frame
/// of this code names it by `pc - offset` (the instruction start) and `fingerprint`.
/// Untrusted bytes: the aggregator parses them.
public struct V8CodeRecord: Hashable, Sendable {
    public var pid: Int32
    public var instructionStart: UInt64
    public var fingerprint: UInt32
    /// The layout's V8 version, `major << 24 | minor << 16 | build`.
    public var v8Version: UInt32
    /// The Code object (tagged address), for logs.
    public var code: UInt64
    public var instructionSize: UInt32
    /// V8's `CodeKind` (12: Maglev, 13: TurboFan in V8 11.3).
    public var codeKind: UInt8
    /// `tandem_v8_code_flags`: what was cut or unreadable.
    public var flags: UInt32
    public var inlinedFunctions: [V8InlinedFunction]
    public var inliningPositions: [UInt8]
    public var sourcePositionTable: [UInt8]

    /// The decoder's bounds (the walker's are smaller: bpf/tandem_v8.h).
    public static let maximumInlinedFunctions = 1024
    public static let maximumCopyBytes = 65536

    public init(pid: Int32, instructionStart: UInt64, fingerprint: UInt32, v8Version: UInt32, code: UInt64,
                instructionSize: UInt32, codeKind: UInt8, flags: UInt32, inlinedFunctions: [V8InlinedFunction],
                inliningPositions: [UInt8], sourcePositionTable: [UInt8]) {
        self.pid = pid
        self.instructionStart = instructionStart
        self.fingerprint = fingerprint
        self.v8Version = v8Version
        self.code = code
        self.instructionSize = instructionSize
        self.codeKind = codeKind
        self.flags = flags
        self.inlinedFunctions = inlinedFunctions
        self.inliningPositions = inliningPositions
        self.sourcePositionTable = sourcePositionTable
    }
}

extension ByteWriter {
    mutating func writeV8Code(_ code: V8CodeRecord) {
        writeInt32(code.pid)
        writeVarint(code.instructionStart)
        writeVarint(code.fingerprint)
        writeVarint(code.v8Version)
        writeVarint(code.code)
        writeVarint(code.instructionSize)
        writeVarint(UInt64(code.codeKind))
        writeVarint(code.flags)
        let functions = code.inlinedFunctions.prefix(V8CodeRecord.maximumInlinedFunctions)
        writeVarint(UInt64(functions.count))
        for function in functions {
            writeVarint(function.sharedFunctionInfo)
            writeVarint(function.fingerprint)
        }
        for copy in [code.inliningPositions, code.sourcePositionTable] {
            let kept = copy.prefix(V8CodeRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
