/// PHP frames on the wire (docs/php.md, docs/wire-format.md): a sample's PHP frames as a
/// stack of kind `php`, and the functions they name.

/// One PHP frame of a sample, as the sampler's BPF walker found it.
public struct PHPFrame: Hashable, Sendable {
    /// The `zend_function` the frame runs, an address in the process.
    public var function: UInt64
    /// Tells functions apart that lived at the same address (docs/php.md); 0 when unreadable.
    public var fingerprint: UInt32
    /// The line of the frame's saved instruction, 24 bits; 0 when unknown (internal functions).
    public var line: UInt32
    public var flags: PHPFrameFlags

    /// The largest line a frame carries; larger lines are sent as 0 (unknown).
    public static let maximumLine: UInt32 = 0xff_ffff

    public init(function: UInt64, fingerprint: UInt32, line: UInt32, flags: PHPFrameFlags) {
        self.function = function
        self.fingerprint = fingerprint
        self.line = line > Self.maximumLine ? 0 : line
        self.flags = flags
    }

    /// The two words of a `php` stack: the function, then `fingerprint << 32 | line << 8 | flags`.
    public var words: (UInt64, UInt64) {
        (function, UInt64(fingerprint) << 32 | UInt64(line & Self.maximumLine) << 8 | UInt64(flags.rawValue))
    }

    public init(words first: UInt64, _ second: UInt64) {
        self.function = first
        self.fingerprint = UInt32(truncatingIfNeeded: second >> 32)
        self.line = UInt32(truncatingIfNeeded: second >> 8) & Self.maximumLine
        self.flags = PHPFrameFlags(rawValue: UInt8(truncatingIfNeeded: second))
    }

    /// The frames of a `php` stack's words (an even count; the decoder checks it).
    public static func frames(words: [UInt64]) -> [PHPFrame] {
        stride(from: 0, to: words.count - 1, by: 2).map { PHPFrame(words: words[$0], words[$0 + 1]) }
    }
}

/// `tandem_php_frame_flags`.
public struct PHPFrameFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The frame began an executor loop: a native `execute_ex` frame comes next toward the root.
    public static let entry = PHPFrameFlags(rawValue: 1)
    /// The function could not be read.
    public static let unreadable = PHPFrameFlags(rawValue: 2)
    /// A function written in C (no line).
    public static let `internal` = PHPFrameFlags(rawValue: 4)
}

/// `tandem_php_walk_flags`, carried by a sample.
public struct PHPWalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let truncated = PHPWalkFlags(rawValue: 1)
    /// No PHP code ran at the sample (the engine starting or shutting down).
    public static let idle = PHPWalkFlags(rawValue: 2)
    public static let readError = PHPWalkFlags(rawValue: 4)
}

/// A function, as the walker copied it from the process (record 28): the characters of its
/// name, of its class's name and of its file name, possibly cut. Untrusted bytes.
public struct PHPFunctionRecord: Hashable, Sendable {
    public var pid: Int32
    /// The `zend_function`'s address.
    public var function: UInt64
    public var fingerprint: UInt32
    /// The engine's version, `major << 8 | minor`.
    public var phpVersion: UInt32
    /// `tandem_php_function_flags`: which copies were cut or unreadable.
    public var flags: UInt32
    /// `zend_function.type`: 1 internal, 2 user function, 4 eval'd code.
    public var type: UInt8
    /// Whether the function has a name (a file's top-level code has none) and a class.
    public var hasName: Bool
    public var hasClass: Bool
    /// The first line of a user function's code; 0 for an internal function.
    public var lineStart: UInt32
    public var name: [UInt8]
    public var className: [UInt8]
    public var file: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_php.h).
    public static let maximumCopyBytes = 1024

    public init(pid: Int32, function: UInt64, fingerprint: UInt32, phpVersion: UInt32, flags: UInt32, type: UInt8,
                hasName: Bool, hasClass: Bool, lineStart: UInt32, name: [UInt8], className: [UInt8], file: [UInt8]) {
        self.pid = pid
        self.function = function
        self.fingerprint = fingerprint
        self.phpVersion = phpVersion
        self.flags = flags
        self.type = type
        self.hasName = hasName
        self.hasClass = hasClass
        self.lineStart = lineStart
        self.name = name
        self.className = className
        self.file = file
    }
}

/// A process with a PHP engine (docs/php.md), control record 29: the version names one of
/// the sampler's own layouts, and `executorGlobalsAddress` (`&executor_globals`) must lie in
/// a writable mapping of the file (`device`, `inode`) that the process also maps executable.
/// The aggregator sends no offset; the sampler refuses anything it cannot check.
public struct PHPProcess: Hashable, Sendable {
    public var pid: Int32
    /// `major << 8 | minor`, e.g. 0x0802.
    public var phpVersion: UInt32
    public var executorGlobalsAddress: UInt64
    public var device: UInt64
    public var inode: UInt64
    /// opcache's JIT code (docs/php.md, "The JIT"): a `jmp *(%r15)` in `execute_ex`'s body,
    /// in an executable mapping of the engine's file, where the walker steps from JIT code;
    /// the CFA there, `rsp + dispatchCFAOffset`; and the JIT buffer `[jitStart, jitEnd)`,
    /// an executable mapping of the process of no regular file. All 0: no step.
    public var executeDispatch: UInt64
    public var dispatchCFAOffset: UInt32
    public var jitStart: UInt64
    public var jitEnd: UInt64

    public init(pid: Int32, phpVersion: UInt32, executorGlobalsAddress: UInt64, device: UInt64, inode: UInt64,
                executeDispatch: UInt64 = 0, dispatchCFAOffset: UInt32 = 0, jitStart: UInt64 = 0, jitEnd: UInt64 = 0) {
        self.pid = pid
        self.phpVersion = phpVersion
        self.executorGlobalsAddress = executorGlobalsAddress
        self.device = device
        self.inode = inode
        self.executeDispatch = executeDispatch
        self.dispatchCFAOffset = dispatchCFAOffset
        self.jitStart = jitStart
        self.jitEnd = jitEnd
    }

    /// Whether the record names a JIT buffer to step over.
    public var stepsOverJIT: Bool { jitEnd != 0 }
}

extension ByteWriter {
    mutating func writePHPFunction(_ function: PHPFunctionRecord) {
        writeInt32(function.pid)
        writeVarint(function.function)
        writeVarint(function.fingerprint)
        writeVarint(function.phpVersion)
        writeVarint(function.flags)
        writeVarint(UInt64(function.type) | (function.hasName ? 0x100 : 0) | (function.hasClass ? 0x200 : 0))
        writeVarint(function.lineStart)
        for copy in [function.name, function.className, function.file] {
            let kept = copy.prefix(PHPFunctionRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
