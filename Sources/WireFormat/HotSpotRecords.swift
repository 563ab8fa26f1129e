/// HotSpot JVM frames on the wire (docs/jvm.md, docs/wire-format.md): a sample's Java
/// frames as a stack of kind `hotspot`, the methods they name (record 20), and the control
/// record that names a JVM process to the sampler (record 21).

/// One Java frame of a sample, as the sampler's BPF walker found it on the native stack.
public struct HotSpotFrame: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        /// `position` is the bci.
        case interpreted = 1
        /// A C1/C2 nmethod: `position` is the pc's offset from the nmethod's code begin.
        case compiled = 2
        /// A native method's JNI wrapper nmethod.
        case nativeWrapper = 3
        /// A C1/C2 nmethod with a code record (record 34): `method` is the nmethod, `fingerprint`
        /// the code record's, `position` the pc's offset from its code begin.
        case compiledCode = 4
    }

    /// The `Method *` (with `fingerprint`, the key of its method record).
    public var method: UInt64
    public var fingerprint: UInt32
    public var position: UInt32
    /// The index in the sample's user stack of the native frame (a code-cache pc) this frame is.
    public var slot: UInt16
    public var kind: Kind

    public init(method: UInt64, fingerprint: UInt32, position: UInt32, slot: UInt16, kind: Kind) {
        self.method = method
        self.fingerprint = fingerprint
        self.position = position
        self.slot = slot
        self.kind = kind
    }

    /// The two words of a `hotspot` stack: `kind << 56 | slot << 48 | method` (user-space
    /// addresses fit in 48 bits; slots are below 256), then `fingerprint << 32 | position`.
    public var words: (UInt64, UInt64) {
        (UInt64(kind.rawValue) << 56 | UInt64(slot & 0xff) << 48 | method & Self.addressMask,
         UInt64(fingerprint) << 32 | UInt64(position))
    }

    /// nil: a kind this version does not know.
    public init?(words first: UInt64, _ second: UInt64) {
        guard let kind = Kind(rawValue: UInt8(truncatingIfNeeded: first >> 56)) else { return nil }
        self.init(method: first & Self.addressMask, fingerprint: UInt32(truncatingIfNeeded: second >> 32),
                  position: UInt32(truncatingIfNeeded: second), slot: UInt16(truncatingIfNeeded: first >> 48) & 0xff,
                  kind: kind)
    }

    /// The frames of a `hotspot` stack's words (frames of unknown kinds are skipped).
    public static func frames(words: [UInt64]) -> [HotSpotFrame] {
        stride(from: 0, to: words.count - 1, by: 2).compactMap { HotSpotFrame(words: words[$0], words[$0 + 1]) }
    }

    private static let addressMask: UInt64 = 0xffff_ffff_ffff
}

/// A method, as the walker copied it from the process (record 20): raw copies of its
/// ConstMethod's header, its class's and its own name Symbols, its class's source file
/// Symbol and its compressed line table. Untrusted bytes: the aggregator parses them with
/// the layout of `featureVersion`.
public struct HotSpotMethodRecord: Hashable, Sendable {
    public var pid: Int32
    public var method: UInt64
    public var fingerprint: UInt32
    /// The JDK feature version whose layout the walker read the method with.
    public var featureVersion: UInt32
    /// `tandem_hotspot_method_flags`: which copies could not be read.
    public var flags: UInt32
    public var constMethod: [UInt8]
    public var className: [UInt8]
    public var methodName: [UInt8]
    public var sourceFile: [UInt8]
    public var lineTable: [UInt8]

    /// The decoder's bound on each copy (the walker's are smaller: bpf/tandem_hotspot.h).
    public static let maximumCopyBytes = 8192

    public init(pid: Int32, method: UInt64, fingerprint: UInt32, featureVersion: UInt32, flags: UInt32,
                constMethod: [UInt8], className: [UInt8], methodName: [UInt8], sourceFile: [UInt8], lineTable: [UInt8]) {
        self.pid = pid
        self.method = method
        self.fingerprint = fingerprint
        self.featureVersion = featureVersion
        self.flags = flags
        self.constMethod = constMethod
        self.className = className
        self.methodName = methodName
        self.sourceFile = sourceFile
        self.lineTable = lineTable
    }
}

/// A compiled method (nmethod), as the walker copied it from the process (record 34): its
/// PcDesc array, its scopes data and its metadata array, whose `Method *` entries carry the
/// fingerprint of their method records (0: other metadata). A frame of kind `compiledCode`
/// names it by (`code`, `fingerprint`). Untrusted bytes: the aggregator parses them with the
/// layout of `featureVersion`.
public struct HotSpotCodeRecord: Hashable, Sendable {
    public struct Metadata: Hashable, Sendable {
        public var address: UInt64
        public var fingerprint: UInt32

        public init(address: UInt64, fingerprint: UInt32) {
            self.address = address
            self.fingerprint = fingerprint
        }
    }

    public var pid: Int32
    /// The nmethod's address and fingerprint (its compile id mixed with its address).
    public var code: UInt64
    public var fingerprint: UInt32
    public var featureVersion: UInt32
    /// `tandem_hotspot_code_flags`: which copies were cut or unreadable.
    public var flags: UInt32
    /// The nmethod's own method: the key of its method record.
    public var method: UInt64
    public var methodFingerprint: UInt32
    public var metadata: [Metadata]
    public var pcDescs: [UInt8]
    public var scopes: [UInt8]

    /// The decoder's bounds (the walker's are smaller: bpf/tandem_hotspot.h).
    public static let maximumMetadataEntries = 4096
    public static let maximumCopyBytes = 65536

    public init(pid: Int32, code: UInt64, fingerprint: UInt32, featureVersion: UInt32, flags: UInt32, method: UInt64,
                methodFingerprint: UInt32, metadata: [Metadata], pcDescs: [UInt8], scopes: [UInt8]) {
        self.pid = pid
        self.code = code
        self.fingerprint = fingerprint
        self.featureVersion = featureVersion
        self.flags = flags
        self.method = method
        self.methodFingerprint = methodFingerprint
        self.metadata = metadata
        self.pcDescs = pcDescs
        self.scopes = scopes
    }
}

/// A process running HotSpot (control record 21, docs/jvm.md): the JDK feature version
/// names one of the sampler's own layouts, and the two addresses (`&CodeCache::_heaps`,
/// `&StubRoutines::_call_stub_return_address`) must lie in libjvm.so's writable data: a
/// writable mapping of the file (`device`, `inode`) or the anonymous mapping that directly
/// follows its last one (the file's `.bss`). The aggregator sends no offset.
public struct HotSpotProcess: Hashable, Sendable {
    public var pid: Int32
    public var featureVersion: UInt32
    public var codeCacheHeapsAddress: UInt64
    public var callStubReturnAddressAddress: UInt64
    public var device: UInt64
    public var inode: UInt64

    public init(pid: Int32, featureVersion: UInt32, codeCacheHeapsAddress: UInt64, callStubReturnAddressAddress: UInt64,
                device: UInt64, inode: UInt64) {
        self.pid = pid
        self.featureVersion = featureVersion
        self.codeCacheHeapsAddress = codeCacheHeapsAddress
        self.callStubReturnAddressAddress = callStubReturnAddressAddress
        self.device = device
        self.inode = inode
    }
}

extension ByteWriter {
    mutating func writeHotSpotMethod(_ method: HotSpotMethodRecord) {
        writeInt32(method.pid)
        writeVarint(method.method)
        writeVarint(method.fingerprint)
        writeVarint(method.featureVersion)
        writeVarint(method.flags)
        for copy in [method.constMethod, method.className, method.methodName, method.sourceFile, method.lineTable] {
            let kept = copy.prefix(HotSpotMethodRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }

    mutating func writeHotSpotCode(_ code: HotSpotCodeRecord) {
        writeInt32(code.pid)
        writeVarint(code.code)
        writeVarint(code.fingerprint)
        writeVarint(code.featureVersion)
        writeVarint(code.flags)
        writeVarint(code.method)
        writeVarint(code.methodFingerprint)
        let metadata = code.metadata.prefix(HotSpotCodeRecord.maximumMetadataEntries)
        writeVarint(UInt64(metadata.count))
        for entry in metadata {
            writeVarint(entry.address)
            writeVarint(entry.fingerprint)
        }
        for copy in [code.pcDescs, code.scopes] {
            let kept = copy.prefix(HotSpotCodeRecord.maximumCopyBytes)
            writeVarint(UInt64(kept.count))
            writeBytes(Array(kept))
        }
    }

    mutating func writeHotSpotProcess(_ process: HotSpotProcess) {
        writeInt32(process.pid)
        writeVarint(process.featureVersion)
        writeVarint(process.codeCacheHeapsAddress)
        writeVarint(process.callStubReturnAddressAddress)
        writeVarint(process.device)
        writeVarint(process.inode)
    }
}
