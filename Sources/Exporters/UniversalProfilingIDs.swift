import Foundation
import Profiles

/// The identifiers of Elastic's Universal Profiling indices, byte for byte as the
/// OpenTelemetry eBPF profiler (`libpf`) and the Collector's Elasticsearch exporter make
/// them, so that documents from tandem and from Elastic's own agent share ids.
enum UniversalProfiling {
    /// A 16-byte file ID: SHA-256 prefix of an ELF file's ends and length (computed by the
    /// symbolizer), FNV-128a of a kernel build id, or a hash of an interpreted frame.
    struct FileID: Hashable, Sendable {
        var high: UInt64
        var low: UInt64

        /// The big-endian bytes: `high` first.
        var bytes: [UInt8] { high.bigEndianBytes + low.bigEndianBytes }

        /// From 32 hex digits (the symbolizer's form); nil for anything else.
        init?(hex: String) {
            let digits = Array(hex.utf8)
            guard digits.count == 32, let high = UInt64(hex.prefix(16), radix: 16),
                  let low = UInt64(hex.suffix(16), radix: 16) else { return nil }
            self.high = high
            self.low = low
        }

        init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        /// A kernel image's or module's ID: FNV-128a of its GNU build id as hex text.
        init(kernelBuildID: String) {
            let hash = FNV128a.hash(Array(kernelBuildID.utf8))
            self.init(high: hash.high, low: hash.low)
        }

        /// The ID of a frame without a file (interpreted code): XXH64 over each of its
        /// lines' function name, file name, line and column (8 bytes big-endian each),
        /// in both halves — what the Collector's exporter derives for a location whose
        /// mapping has no file ID.
        init(interpretedFunction name: String, file: String, line: Int64, column: Int64 = 0) {
            var input = Array(name.utf8) + Array(file.utf8)
            input += UInt64(bitPattern: line).bigEndianBytes + UInt64(bitPattern: column).bigEndianBytes
            let hash = XXH64.hash(input)
            self.init(high: hash, low: hash)
        }

        /// The ID the Collector's exporter gives a location with neither a file ID nor lines.
        static let withoutFile = FileID(high: XXH64.hash([]), low: XXH64.hash([]))

        var base64URL: String { UniversalProfiling.base64URL(bytes) }
    }

    /// A 24-byte frame ID: the file ID, then the address or line, 8 bytes big-endian.
    struct FrameID: Hashable, Sendable {
        var file: FileID
        var addressOrLine: UInt64

        var bytes: [UInt8] { file.bytes + addressOrLine.bigEndianBytes }
        var base64URL: String { UniversalProfiling.base64URL(bytes) }
    }

    /// `Stacktrace.id`: FNV-128a over the frames from the leaf to the root, each as its
    /// 16 file-ID bytes followed by its address or line in decimal ASCII digits.
    static func stackTraceID(leafFirst frames: [FrameID]) -> [UInt8] {
        var hash = FNV128a()
        for frame in frames {
            hash.update(frame.file.bytes)
            hash.update(Array(String(frame.addressOrLine).utf8))
        }
        return hash.value.high.bigEndianBytes + hash.value.low.bigEndianBytes
    }

    /// `Stacktrace.frame.types`: runs of (count 1...255, type byte) from the root to the
    /// leaf, base64url without padding.
    static func encodeFrameTypes(rootFirst types: [UInt8]) -> String {
        var encoded: [UInt8] = []
        var index = 0
        while index < types.count {
            let type = types[index]
            var run = 1
            while index + run < types.count, types[index + run] == type, run < 255 { run += 1 }
            encoded.append(UInt8(run))
            encoded.append(type)
            index += run
        }
        return base64URL(encoded)
    }

    /// The type byte of a frame (`libpf`'s frame markers); Rust is native code to it.
    static func frameTypeByte(_ type: FrameType) -> UInt8 {
        switch type {
        case .cpython: 1
        case .php: 2
        case .native, .rust: 3
        case .kernel: 4
        case .jvm: 5
        case .ruby: 6
        case .perl: 7
        case .v8js: 8
        case .dotnet: 10
        case .go: 11
        case .beam: 12
        }
    }

    /// The error bit of a type byte; an error frame with type 0 marks an aborted unwind.
    static let errorFlag: UInt8 = 0x80

    /// Base64 with the URL alphabet and no padding (Go's `base64.RawURLEncoding`).
    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}

/// FNV-1a with a 128-bit state (Go's `hash/fnv.New128a`).
struct FNV128a {
    private(set) var value: (high: UInt64, low: UInt64) = (0x6c62_272e_07bb_0142, 0x62b8_2175_6295_c58d)

    /// The 128-bit FNV prime is 2^88 + 0x13b: its high word is 1 << 24.
    private static let primeLow: UInt64 = 0x13b
    private static let primeHighShift: UInt64 = 24

    mutating func update(_ bytes: [UInt8]) {
        var (high, low) = value
        for byte in bytes {
            low ^= UInt64(byte)
            // (high:low) * (2^88 + 0x13b) mod 2^128.
            let product = low.multipliedFullWidth(by: Self.primeLow)
            let newHigh = high &* Self.primeLow &+ product.high &+ (low << Self.primeHighShift)
            low = product.low
            high = newHigh
        }
        value = (high, low)
    }

    static func hash(_ bytes: [UInt8]) -> (high: UInt64, low: UInt64) {
        var state = FNV128a()
        state.update(bytes)
        return state.value
    }
}

/// XXH64 with seed 0 (the Collector exporter's `cespare/xxhash`).
enum XXH64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    private static func round(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        let mixed = accumulator &+ lane &* prime2
        return ((mixed << 31) | (mixed >> 33)) &* prime1
    }

    private static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    private static func word(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[at + index]) << (8 * index) }
        return value
    }

    private static func half(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<4 { value |= UInt64(bytes[at + index]) << (8 * index) }
        return value
    }

    private static func rotl(_ value: UInt64, _ count: UInt64) -> UInt64 { (value << count) | (value >> (64 - count)) }

    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var position = 0
        var hash: UInt64
        if bytes.count >= 32 {
            var v1 = prime1 &+ prime2, v2 = prime2, v3: UInt64 = 0, v4 = 0 &- prime1
            while position + 32 <= bytes.count {
                v1 = round(v1, word(bytes, position))
                v2 = round(v2, word(bytes, position + 8))
                v3 = round(v3, word(bytes, position + 16))
                v4 = round(v4, word(bytes, position + 24))
                position += 32
            }
            hash = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            hash = merge(merge(merge(merge(hash, v1), v2), v3), v4)
        } else {
            hash = prime5
        }
        hash = hash &+ UInt64(bytes.count)
        while position + 8 <= bytes.count {
            hash ^= round(0, word(bytes, position))
            hash = rotl(hash, 27) &* prime1 &+ prime4
            position += 8
        }
        if position + 4 <= bytes.count {
            hash ^= half(bytes, position) &* prime1
            hash = rotl(hash, 23) &* prime2 &+ prime3
            position += 4
        }
        while position < bytes.count {
            hash ^= UInt64(bytes[position]) &* prime5
            hash = rotl(hash, 11) &* prime1
            position += 1
        }
        hash ^= hash >> 33
        hash = hash &* prime2
        hash ^= hash >> 29
        hash = hash &* prime3
        hash ^= hash >> 32
        return hash
    }
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (56 - 8 * $0)) } }
}
