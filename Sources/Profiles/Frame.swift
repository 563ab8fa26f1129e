/// One symbolized stack frame, as the aggregator hands it to metrics and exporters.
///
/// Its three names (function, file mapped, source file) are held by one shared,
/// immutable `FrameNames`: copying a frame (into stack caches, samples, the metrics
/// connector's caches) retains one object instead of three strings, and the symbolizer
/// gives every frame of the same symbol the same instance, so that consumers may key
/// their caches by it (`FrameNames` identity) instead of hashing strings.
public struct Frame: Hashable, Sendable {
    /// The address sampled: a return address (or the IP for the leaf) in the
    /// process's address space, or a kernel address for kernel frames.
    public var address: UInt64
    /// `address` translated to an offset in `mappingPath`'s file; `nil` when unknown.
    public var fileOffset: UInt64?
    /// The function, file and source file, shared with the frames of the same symbol.
    public var names: FrameNames
    /// The line in `sourceFile`, 0 when unknown.
    public var sourceLine: UInt32
    /// The runtime of the frame.
    public var type: FrameType

    public init(type: FrameType, address: UInt64, functionName: String? = nil,
                mappingPath: String? = nil, fileOffset: UInt64? = nil, sourceFile: String? = nil, sourceLine: UInt32 = 0) {
        self.init(type: type, address: address,
                  names: FrameNames.of(functionName: functionName, mappingPath: mappingPath, sourceFile: sourceFile),
                  fileOffset: fileOffset, sourceLine: sourceLine)
    }

    /// A frame with names shared with others (`FrameNames`, from the symbolizer's caches).
    public init(type: FrameType, address: UInt64, names: FrameNames, fileOffset: UInt64? = nil, sourceLine: UInt32 = 0) {
        self.type = type
        self.address = address
        self.names = names
        self.fileOffset = fileOffset
        self.sourceLine = sourceLine
    }

    /// The function name, demangled where a demangler applies; `nil` when no
    /// symbol covers the address. Setting it gives this frame its own `names`.
    public var functionName: String? {
        get { names.functionName }
        set { names = FrameNames.of(functionName: newValue, mappingPath: names.mappingPath, sourceFile: names.sourceFile) }
    }

    /// The path of the file mapped at `address` (executable, shared library,
    /// perf map, kernel module name for kernel frames); `nil` for anonymous memory.
    public var mappingPath: String? {
        get { names.mappingPath }
        set { names = FrameNames.of(functionName: names.functionName, mappingPath: newValue, sourceFile: names.sourceFile) }
    }

    /// The source file: an interpreted frame's (a Python frame's `co_filename`), or a
    /// native or Go frame's from its file's line table (DWARF `.debug_line`, `.gopclntab`);
    /// `nil` when unknown. Text labels show only an interpreted frame's
    /// (`interpretedSourceFile`); structured outputs (OTLP, Elasticsearch) carry both.
    public var sourceFile: String? {
        get { names.sourceFile }
        set { names = FrameNames.of(functionName: names.functionName, mappingPath: names.mappingPath, sourceFile: newValue) }
    }

    /// `sourceFile` when the frame is interpreted code's, whose labels name its file;
    /// nil for machine code (native, kernel, Go, Rust), whose labels stay the function
    /// alone so that folded stacks and metrics do not split by line.
    public var interpretedSourceFile: String? { type.isMachineCode ? nil : sourceFile }

    /// A name for display: the function when known, else `file+0xoffset`,
    /// else the raw address. Unnamed frames are shown, never dropped.
    public var displayName: String {
        if let functionName { return functionName }
        if let mappingPath {
            let file = mappingPath.split(separator: "/").last.map(String.init) ?? mappingPath
            return "\(file)+0x\(String(fileOffset ?? address, radix: 16))"
        }
        return "0x\(String(address, radix: 16))"
    }
}

/// The names of a frame: its function, the file mapped at it and its source file.
///
/// Immutable and shared: the symbolizer keeps one per symbol it named (with its file
/// and source file) for as long as it keeps the symbol's file, and every frame of that
/// symbol holds the same instance. Equality is by value (two instances with the same
/// names are equal); identity (`===`) is a fast path and a cache key for consumers,
/// who must then hold the instance, so that its address is not reused for other names.
public final class FrameNames: Hashable, Sendable {
    public let functionName: String?
    public let mappingPath: String?
    public let sourceFile: String?

    /// The names of a frame that has none (an address in anonymous memory, unknown).
    public static let none = FrameNames(functionName: nil, mappingPath: nil, sourceFile: nil)

    public init(functionName: String?, mappingPath: String?, sourceFile: String?) {
        self.functionName = functionName
        self.mappingPath = mappingPath
        self.sourceFile = sourceFile
    }

    /// `none` when every name is nil (no allocation), else a new instance.
    public static func of(functionName: String?, mappingPath: String?, sourceFile: String?) -> FrameNames {
        if functionName == nil, mappingPath == nil, sourceFile == nil { return none }
        return FrameNames(functionName: functionName, mappingPath: mappingPath, sourceFile: sourceFile)
    }

    public static func == (lhs: FrameNames, rhs: FrameNames) -> Bool {
        lhs === rhs || (lhs.functionName == rhs.functionName && lhs.mappingPath == rhs.mappingPath
            && lhs.sourceFile == rhs.sourceFile)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(functionName)
        hasher.combine(mappingPath)
        hasher.combine(sourceFile)
    }
}
