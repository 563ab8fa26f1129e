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
/// `ErtsCodeMFA` words and the bytes of its module's and its own atom names. Untrusted bytes.
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

    /// The decoder's bound on each name: an atom has at most 255 characters of up to 4 UTF-8
    /// bytes (the walker copies at most 255 bytes, bpf/tandem_beam.h).
    public static let maximumNameBytes = 255 * 4

    public init(pid: Int32, codeInfo: UInt64, module: UInt64, function: UInt64, arity: UInt64, ertsMajor: UInt32,
                flags: UInt32, moduleName: [UInt8], functionName: [UInt8]) {
        self.pid = pid
        self.codeInfo = codeInfo
        self.module = module
        self.function = function
        self.arity = arity
        self.ertsMajor = ertsMajor
        self.flags = flags
        self.moduleName = moduleName
        self.functionName = functionName
    }
}

/// A process running a BEAM VM (docs/beam.md), control record 31: the ERTS major names one
/// of the sampler's own layouts, and the four addresses (`the_active_code_index`, the static
/// `r`, `erts_atom_table`, `beam_normal_exit`) must each lie in a writable mapping of the
/// file (`device`, `inode`) that the process also maps executable. The aggregator sends no
/// offset; the sampler refuses anything it cannot check.
public struct BEAMProcess: Hashable, Sendable {
    public var pid: Int32
    public var ertsMajor: UInt32
    public var activeCodeIndexAddress: UInt64
    public var rangesAddress: UInt64
    public var atomTableAddress: UInt64
    public var normalExitAddress: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, ertsMajor: UInt32, activeCodeIndexAddress: UInt64, rangesAddress: UInt64,
                atomTableAddress: UInt64, normalExitAddress: UInt64, device: UInt64, inode: UInt64) {
        self.pid = pid
        self.ertsMajor = ertsMajor
        self.activeCodeIndexAddress = activeCodeIndexAddress
        self.rangesAddress = rangesAddress
        self.atomTableAddress = atomTableAddress
        self.normalExitAddress = normalExitAddress
        self.device = device
        self.inode = inode
    }

    /// The four addresses, in the record's order.
    public var addresses: [UInt64] { [activeCodeIndexAddress, rangesAddress, atomTableAddress, normalExitAddress] }
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
            let kept = name.prefix(BEAMFunctionRecord.maximumNameBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }
}
