/// Erlang/BEAM frames on the wire (docs/beam.md, docs/wire-format.md): a sample's Erlang
/// frames as a stack of kind `beam`, and the functions they name.

/// One Erlang frame of a sample, as the sampler's BPF walker found it.
public struct BEAMFrame: Hashable, Sendable {
    /// The function's `ErtsCodeInfo`, an address in the process's JIT code; 0 when the pc lies
    /// in a module's code outside its functions.
    public var codeInfo: UInt64
    /// The leaf's pc, or a caller's continuation pointer (its return address).
    public var pc: UInt64

    public init(codeInfo: UInt64, pc: UInt64) {
        self.codeInfo = codeInfo
        self.pc = pc
    }

    /// The `codeInfo` of a C-leaf walk's first frame (`TANDEM_BEAM_FRAME_ANCHOR`): no function,
    /// but the JIT return address where the native walk left the C code; the Erlang frames
    /// that follow go there (docs/beam.md, "C leaves"). An `ErtsCodeInfo` is never 1.
    public static let anchorCodeInfo: UInt64 = 1

    /// Whether this is a C-leaf walk's anchor.
    public var isAnchor: Bool { codeInfo == Self.anchorCodeInfo }

    /// The two words of a `beam` stack: the `ErtsCodeInfo`, then the pc.
    public var words: (UInt64, UInt64) { (codeInfo, pc) }

    public init(words first: UInt64, _ second: UInt64) {
        self.init(codeInfo: first, pc: second)
    }

    /// The frames of a `beam` stack's words (an even count; the decoder checks it).
    public static func frames(words: [UInt64]) -> [BEAMFrame] {
        stride(from: 0, to: words.count - 1, by: 2).map { BEAMFrame(words: words[$0], words[$0 + 1]) }
    }
}

/// `tandem_beam_walk_flags`, carried by a sample.
public struct BEAMWalkFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// More frames than the walker keeps, or the stack scan ended before the stack's bottom.
    public static let truncated = BEAMWalkFlags(rawValue: 1)
    /// The leaf was not in a module's code (C code): no frames.
    public static let notErlang = BEAMWalkFlags(rawValue: 2)
    public static let readError = BEAMWalkFlags(rawValue: 4)
}

/// An Erlang function, as the walker copied it from the process (record 30): its
/// `ErtsCodeMFA` words, the bytes of its module's and its own atom names, its slice of the
/// module's line table and its first location's file name. Untrusted bytes.
public struct BEAMFunctionRecord: Hashable, Sendable {
    public var pid: Int32
    /// The `ErtsCodeInfo`'s address: what the frames name.
    public var codeInfo: UInt64
    /// The module's and the function's atom terms and the arity, as `ErtsCodeMFA` holds them.
    public var module: UInt64
    public var function: UInt64
    public var arity: UInt64
    /// The ERTS major whose layout the walker read it with (13 for OTP 25).
    public var ertsMajor: UInt32
    /// `tandem_beam_function_flags`: which names were unreadable.
    public var flags: UInt32
    public var moduleName: [UInt8]
    public var functionName: [UInt8]
    /// The code addresses starting the function's lines: 8 bytes each, little-endian, as the
    /// VM keeps them (`BeamCodeLineTab.func_tab[i]` onward).
    public var lineAddresses: [UInt8]
    /// Bytes per location (`BeamCodeLineTab.loc_size`: 2 or 4; 0 without lines).
    public var locationSize: UInt32
    /// One location per line address (`file << 24 | line`), `locationSize` bytes each.
    public var locations: [UInt8]
    /// The file of the function's first location, and that file's name as 32-bit code points
    /// (little-endian; none for file 0, the module's own `.erl`).
    public var fileIndex: UInt32
    public var fileName: [UInt8]

    /// The decoder's bound on each name: an atom has at most 255 characters of up to 4 UTF-8
    /// bytes (the walker copies at most 255 bytes, bpf/tandem_beam.h).
    public static let maximumNameBytes = 255 * 4
    /// The decoder's bounds on the line copies: 4,096 entries (the walker copies at most 512),
    /// 1,024 characters of a file name (the walker copies at most 256).
    public static let maximumLineAddressBytes = 4096 * 8
    public static let maximumLocationBytes = 4096 * 4
    public static let maximumFileNameBytes = 1024 * 4

    public init(pid: Int32, codeInfo: UInt64, module: UInt64, function: UInt64, arity: UInt64, ertsMajor: UInt32,
                flags: UInt32, moduleName: [UInt8], functionName: [UInt8], lineAddresses: [UInt8] = [],
                locationSize: UInt32 = 0, locations: [UInt8] = [], fileIndex: UInt32 = 0, fileName: [UInt8] = []) {
        self.pid = pid
        self.codeInfo = codeInfo
        self.module = module
        self.function = function
        self.arity = arity
        self.ertsMajor = ertsMajor
        self.flags = flags
        self.moduleName = moduleName
        self.functionName = functionName
        self.lineAddresses = lineAddresses
        self.locationSize = locationSize
        self.locations = locations
        self.fileIndex = fileIndex
        self.fileName = fileName
    }
}

/// A process running a BEAM VM (docs/beam.md), control record 31: the ERTS major names one
/// of the sampler's own layouts, and the nine addresses (`the_active_code_index`, the static
/// `r`, `erts_atom_table`, `beam_normal_exit`, `erts_aligned_scheduler_data`,
/// `erts_no_schedulers`, `erts_frame_layout`, `erts_aligned_dirty_cpu_scheduler_data`,
/// `erts_no_dirty_cpu_schedulers`) must each lie in a writable mapping of the
/// file (`device`, `inode`) that the process also maps executable. The aggregator sends no
/// offset; the sampler refuses anything it cannot check.
public struct BEAMProcess: Hashable, Sendable {
    public var pid: Int32
    public var ertsMajor: UInt32
    public var activeCodeIndexAddress: UInt64
    public var rangesAddress: UInt64
    public var atomTableAddress: UInt64
    public var normalExitAddress: UInt64
    /// Where the C-leaf walk finds the running process (docs/beam.md, "C leaves"): the
    /// pointer to the normal schedulers' data, their count, the JIT's frame layout, the
    /// pointer to the dirty CPU schedulers' data and their count.
    public var schedulerDataAddress: UInt64
    public var schedulerCountAddress: UInt64
    public var frameLayoutAddress: UInt64
    public var dirtySchedulerDataAddress: UInt64
    public var dirtySchedulerCountAddress: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, ertsMajor: UInt32, activeCodeIndexAddress: UInt64, rangesAddress: UInt64,
                atomTableAddress: UInt64, normalExitAddress: UInt64, schedulerDataAddress: UInt64,
                schedulerCountAddress: UInt64, frameLayoutAddress: UInt64, dirtySchedulerDataAddress: UInt64,
                dirtySchedulerCountAddress: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.ertsMajor = ertsMajor
        self.activeCodeIndexAddress = activeCodeIndexAddress
        self.rangesAddress = rangesAddress
        self.atomTableAddress = atomTableAddress
        self.normalExitAddress = normalExitAddress
        self.schedulerDataAddress = schedulerDataAddress
        self.schedulerCountAddress = schedulerCountAddress
        self.frameLayoutAddress = frameLayoutAddress
        self.dirtySchedulerDataAddress = dirtySchedulerDataAddress
        self.dirtySchedulerCountAddress = dirtySchedulerCountAddress
        self.device = device
        self.inode = inode
    }

    /// The nine addresses, in the record's order.
    public var addresses: [UInt64] {
        [activeCodeIndexAddress, rangesAddress, atomTableAddress, normalExitAddress, schedulerDataAddress,
         schedulerCountAddress, frameLayoutAddress, dirtySchedulerDataAddress, dirtySchedulerCountAddress]
    }
}

extension ByteWriter {
    mutating func writeBEAMFunction(_ function: BEAMFunctionRecord) {
        writeInt32(function.pid)
        writeVarint(function.codeInfo)
        writeVarint(function.module)
        writeVarint(function.function)
        writeVarint(function.arity)
        writeVarint(function.ertsMajor)
        writeVarint(function.flags)
        for name in [function.moduleName, function.functionName] {
            writeCopy(name, limit: BEAMFunctionRecord.maximumNameBytes)
        }
        writeCopy(function.lineAddresses, limit: BEAMFunctionRecord.maximumLineAddressBytes)
        writeVarint(function.locationSize)
        writeCopy(function.locations, limit: BEAMFunctionRecord.maximumLocationBytes)
        writeVarint(function.fileIndex)
        writeCopy(function.fileName, limit: BEAMFunctionRecord.maximumFileNameBytes)
    }

    /// A length-prefixed copy, cut to the decoder's bound.
    private mutating func writeCopy(_ bytes: [UInt8], limit: Int) {
        let kept = bytes.prefix(limit)
        writeVarint(UInt64(kept.count))
        writeBytes(Array(kept))
    }
}
