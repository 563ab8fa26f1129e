/// One symbolized stack frame, as the aggregator hands it to metrics and exporters.
public struct Frame: Hashable, Sendable {
    // Stored properties are declared largest-first so that the four-byte line and the
    // one-byte `type` fill the padding after the optionals' tags (stacks are cached as
    // arrays of frames).

    /// The address sampled: a return address (or the IP for the leaf) in the
    /// process's address space, or a kernel address for kernel frames.
    public var address: UInt64
    /// The function name, demangled where a demangler applies; `nil` when no
    /// symbol covers the address.
    public var functionName: String?
    /// The path of the file mapped at `address` (executable, shared library,
    /// perf map, kernel module name for kernel frames); `nil` for anonymous memory.
    public var mappingPath: String?
    /// `address` translated to an offset in `mappingPath`'s file; `nil` when unknown.
    public var fileOffset: UInt64?
    /// The source file: an interpreted frame's (a Python frame's `co_filename`), or a
    /// native or Go frame's from its file's line table (DWARF `.debug_line`, `.gopclntab`);
    /// `nil` when unknown. Text labels show only an interpreted frame's
    /// (`interpretedSourceFile`); structured outputs (OTLP, Elasticsearch) carry both.
    public var sourceFile: String?
    /// The line in `sourceFile`, 0 when unknown.
    public var sourceLine: UInt32
    /// The runtime of the frame.
    public var type: FrameType

    public init(type: FrameType, address: UInt64, functionName: String? = nil,
                mappingPath: String? = nil, fileOffset: UInt64? = nil, sourceFile: String? = nil, sourceLine: UInt32 = 0) {
        self.type = type
        self.address = address
        self.functionName = functionName
        self.mappingPath = mappingPath
        self.fileOffset = fileOffset
        self.sourceFile = sourceFile
        self.sourceLine = sourceLine
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
