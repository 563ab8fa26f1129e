/// The inlining scopes of a compiled method (nmethod), from copies of its PcDesc array, its
/// scopes data and its metadata array: which methods, at which bcis, a pc offset of the
/// nmethod stands for, innermost first (`ScopeDesc` in HotSpot).
///
/// Each PcDesc is (`pc_offset`, `scope_decode_offset`, ...); a scope at a decode offset is
/// three UNSIGNED5 ints: the sender scope's decode offset (0: none), the method's index in the
/// metadata array (1-based; 0: none), and the bci + 1 (`InvocationEntryBci` is -1). C2
/// records PcDescs at calls and safepoints only, so a pc between them takes the next one's
/// scopes (what JFR and async-profiler show too without -XX:+DebugNonSafepoints).
public struct HotSpotScopes: Hashable, Sendable {
    public struct Scope: Hashable, Sendable {
        /// The `Method *` from the metadata array (0: the index named no entry of the copy).
        public var method: UInt64
        public var bci: Int32
    }

    /// (pc offset, scope decode offset), sorted by pc offset.
    private let descriptors: [(pcOffset: Int32, decodeOffset: Int32)]
    private let scopes: [UInt8]
    private let metadata: [UInt64]
    /// Scopes followed per pc at most (inlining depth; HotSpot's MaxInlineLevel is 15).
    public static let maximumDepth = 16

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.scopes == rhs.scopes && lhs.metadata == rhs.metadata
            && lhs.descriptors.elementsEqual(rhs.descriptors) { $0.pcOffset == $1.pcOffset && $0.decodeOffset == $1.decodeOffset }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(scopes)
        hasher.combine(metadata)
    }

    /// `pcDescs`: the PcDesc array's bytes (`pcDescSize` each, the two ints at the given
    /// offsets); `metadata`: the metadata array's words. A partial last PcDesc is ignored.
    public init(pcDescs: [UInt8], pcDescSize: Int, pcOffsetField: Int, decodeOffsetField: Int, scopes: [UInt8],
                metadata: [UInt64]) {
        var descriptors: [(Int32, Int32)] = []
        if pcDescSize >= 8, pcOffsetField + 4 <= pcDescSize, decodeOffsetField + 4 <= pcDescSize {
            pcDescs.withUnsafeBytes { raw in
                for base in stride(from: 0, to: raw.count - pcDescSize + 1, by: pcDescSize) {
                    descriptors.append((raw.loadUnaligned(fromByteOffset: base + pcOffsetField, as: Int32.self),
                                        raw.loadUnaligned(fromByteOffset: base + decodeOffsetField, as: Int32.self)))
                }
            }
        }
        self.descriptors = descriptors.sorted { $0.0 < $1.0 }
        self.scopes = scopes
        self.metadata = metadata
    }

    /// The scopes of the code at `pcOffset` (a return address's offset names the call before
    /// it), innermost first; empty when no PcDesc lies at or after it or the data is cut.
    public func scopes(atPCOffset pcOffset: Int32) -> [Scope] {
        guard let descriptor = descriptors.first(where: { $0.pcOffset >= pcOffset }) else { return [] }
        var result: [Scope] = []
        var offset = Int(descriptor.decodeOffset)
        var visited = Set<Int>()
        while offset > 0, offset < scopes.count, result.count < Self.maximumDepth, visited.insert(offset).inserted {
            var reader = HotSpotUnsigned5Reader(scopes[offset...])
            guard let sender = reader.readUnsigned(), let index = reader.readUnsigned(), let bci = reader.readUnsigned()
            else { break }
            let method = index >= 1 && Int(index) <= metadata.count ? metadata[Int(index) - 1] : 0
            result.append(Scope(method: method, bci: Int32(bitPattern: bci) &- 1))
            offset = Int(sender)
        }
        return result
    }
}
