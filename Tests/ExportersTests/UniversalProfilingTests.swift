@testable import Exporters
import Configuration
import Foundation
import Profiles
import Testing

/// The ids of the Universal Profiling indices on worked examples. Where upstream's unit
/// tests have one, its inputs and expected values are the vectors (named at each test).
@Suite("Universal Profiling ids and documents")
struct UniversalProfilingTests {
    @Test("frame ID: 16 file-ID bytes, then the address big-endian (libpf/frameid_test.go)")
    func frameIDVector() throws {
        let file = try #require(UniversalProfiling.FileID(hex: "77efa716a912a49217445787329fd29a"))
        let frame = UniversalProfiling.FrameID(file: file, addressOrLine: 0xe51c)
        #expect(frame.base64URL == "d--nFqkSpJIXRFeHMp_SmgAAAAAAAOUc")
        #expect(frame.bytes == [0x77, 0xef, 0xa7, 0x16, 0xa9, 0x12, 0xa4, 0x92, 0x17, 0x44, 0x57, 0x87,
                                0x32, 0x9f, 0xd2, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe5, 0x1c])
    }

    @Test("file ID of a kernel image: FNV-128a of its build id (libpf/fileid_test.go)")
    func kernelFileIDVector() {
        let file = UniversalProfiling.FileID(kernelBuildID: "f8e1cf0f60558098edaec164ac7749df")
        #expect(file == UniversalProfiling.FileID(hex: "026a2d6a60ee6b4eb8ec85adf2e76f4d"))
    }

    @Test("file IDs are base64url without padding (libpf/fileid_test.go)")
    func fileIDBase64Vector() {
        #expect(UniversalProfiling.FileID(high: 0x1234_5678_1243_97f5, low: 0x8765_4321_8774_849e).base64URL
                == "EjRWeBJDl_WHZUMhh3SEng")
        #expect(UniversalProfiling.FileID(hex: "not hex") == nil)
    }

    @Test("stack trace of one native frame (otelserializer/profile_test.go of the Collector's exporter)")
    func stackTraceVector() throws {
        let file = try #require(UniversalProfiling.FileID(hex: "600dcafe4a110000f2bf38c493f5fb92"))
        let frame = UniversalProfiling.FrameID(file: file, addressOrLine: 111)
        #expect(frame.base64URL == "YA3K_koRAADyvzjEk_X7kgAAAAAAAABv")
        #expect(UniversalProfiling.base64URL(UniversalProfiling.stackTraceID(leafFirst: [frame])) == "02VzuClbpt_P3xxwox83Ng")
        #expect(UniversalProfiling.encodeFrameTypes(rootFirst: [UniversalProfiling.frameTypeByte(.native)]) == "AQM")
    }

    @Test("frame types: runs of at most 255 from the root (serializeprofiles/encode.go's example)")
    func frameTypeRuns() {
        // Upstream's example: leaf-first [a a x x x x x] encodes as [5 x 2 a].
        let a = UInt8(ascii: "a"), x = UInt8(ascii: "x")
        #expect(UniversalProfiling.encodeFrameTypes(rootFirst: [x, x, x, x, x, a, a])
                == UniversalProfiling.base64URL([5, x, 2, a]))
        #expect(UniversalProfiling.encodeFrameTypes(rootFirst: Array(repeating: 3, count: 300))
                == UniversalProfiling.base64URL([255, 3, 45, 3]))
        #expect(UniversalProfiling.encodeFrameTypes(rootFirst: []) == "")
    }

    @Test("the stack trace id hashes the frames leaf first")
    func stackTraceOrder() {
        let one = UniversalProfiling.FrameID(file: .init(high: 1, low: 2), addressOrLine: 10)
        let two = UniversalProfiling.FrameID(file: .init(high: 3, low: 4), addressOrLine: 20)
        var expected = FNV128a()
        expected.update(one.file.bytes + Array("10".utf8) + two.file.bytes + Array("20".utf8))
        let id = UniversalProfiling.stackTraceID(leafFirst: [one, two])
        #expect(id == expected.value.high.bigEndianBytes + expected.value.low.bigEndianBytes)
        #expect(id != UniversalProfiling.stackTraceID(leafFirst: [two, one]))
    }

    @Test("an interpreted frame: file ID XXH64 of name, file, line and column in both halves (serializeprofiles' getFrameID)")
    func interpretedFrameIDVector() {
        // Worked out independently with libxxhash 0.8.1's XXH64 (seed 0) over
        // "run" + "/srv/app.py" + 42 and 0 as 8 big-endian bytes each.
        let python = Frame(type: .cpython, address: 0x7f00_1000, functionName: "run", sourceFile: "/srv/app.py", sourceLine: 42)
        let id = UniversalProfilingDocuments.frameID(of: python, isReturnAddress: true, identities: [:])
        #expect(id.file == UniversalProfiling.FileID(hex: "c2606475fa9d7629c2606475fa9d7629"))
        #expect(id.base64URL == "wmBkdfqddinCYGR1-p12KQAAAAAAAAAq")
    }

    @Test("XXH64 matches the reference vectors")
    func xxh64Vectors() {
        #expect(XXH64.hash([]) == 0xEF46_DB37_51D8_E999)
        #expect(XXH64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXH64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(XXH64.hash(Array("Nobody inspects the spammish repetition".utf8)) == 0xFBCE_A83C_8A37_8BF1)
    }

    @Test("frame type bytes are libpf's markers")
    func frameTypeBytes() {
        let bytes = Dictionary(uniqueKeysWithValues: FrameType.allCases.map { ($0, UniversalProfiling.frameTypeByte($0)) })
        #expect(bytes == [.cpython: 1, .php: 2, .native: 3, .rust: 3, .kernel: 4, .jvm: 5, .ruby: 6, .perl: 7,
                          .v8js: 8, .dotnet: 10, .go: 11, .beam: 12])
    }

    @Test("a native frame is its link-time address, less one past the leaf; Python frames their line")
    func frameAddresses() throws {
        let identity = MappedFileIdentity(gnuBuildID: nil, fileID: "00112233445566778899aabbccddeeff", segments: [
            FileSegment(fileOffset: 0, virtualAddress: 0x40_0000, fileSize: 0x1000, isExecutable: false),
            FileSegment(fileOffset: 0x1000, virtualAddress: 0x40_1000, fileSize: 0x2000, isExecutable: true),
        ])
        let identities = ["/bin/app": identity]
        let frame = Frame(type: .native, address: 0x5555_0000_1234, functionName: "f", mappingPath: "/bin/app", fileOffset: 0x1234)
        let leaf = UniversalProfilingDocuments.frameID(of: frame, isReturnAddress: false, identities: identities)
        let caller = UniversalProfilingDocuments.frameID(of: frame, isReturnAddress: true, identities: identities)
        #expect(leaf.addressOrLine == 0x40_1234)
        #expect(caller.addressOrLine == 0x40_1233)
        #expect(leaf.file == UniversalProfiling.FileID(hex: "00112233445566778899aabbccddeeff"))
        // A source line from DWARF does not make machine code interpreted: same file id and address.
        var withLine = frame
        withLine.sourceFile = "/src/app.c"
        withLine.sourceLine = 17
        #expect(UniversalProfilingDocuments.frameID(of: withLine, isReturnAddress: false, identities: identities) == leaf)

        let python = Frame(type: .cpython, address: 0x7f00_1000, functionName: "run", sourceFile: "/srv/app.py", sourceLine: 42)
        let id = UniversalProfilingDocuments.frameID(of: python, isReturnAddress: true, identities: [:])
        #expect(id.addressOrLine == 42)
        #expect(id.file.high == id.file.low)
        #expect(id.file == .init(interpretedFunction: "run", file: "/srv/app.py", line: 42))
        #expect(id.file != .init(interpretedFunction: "run", file: "/srv/app.py", line: 43))

        // Frozen modules are named as the eBPF profiler names them (python.go, frozenNameToFileName).
        #expect(UniversalProfilingDocuments.indexedSourceFile("<frozen importlib._bootstrap>") == "_bootstrap.py")
        #expect(UniversalProfilingDocuments.indexedSourceFile("<frozen zipimport>") == "zipimport.py")
        #expect(UniversalProfilingDocuments.indexedSourceFile("/srv/app.py") == "/srv/app.py")

        let kernel = Frame(type: .kernel, address: 0xffff_ffff_8100_2020, functionName: "tcp_sendmsg")
        let kernelID = UniversalProfilingDocuments.frameID(of: kernel, isReturnAddress: false, identities: [:])
        #expect(kernelID.file == UniversalProfilingDocuments.unknownKernelFileID)
        #expect(kernelID.addressOrLine == 0xffff_ffff_8100_201f)
    }

    @Test("times: RFC 3339 with nanoseconds as Go writes it; executables' week starts on Monday")
    func times() {
        #expect(UniversalProfilingDocuments.rfc3339(unixNanoseconds: 0) == "1970-01-01T00:00:00Z")
        #expect(UniversalProfilingDocuments.rfc3339(unixNanoseconds: 1_704_067_200_500_000_000) == "2024-01-01T00:00:00.5Z")
        #expect(UniversalProfilingDocuments.rfc3339(unixNanoseconds: 951_782_400_000_000_001) == "2000-02-29T00:00:00.000000001Z")
        for time: UInt64 in [0, 1_704_067_200_500_000_000, 951_782_400_000_000_001, 1_700_000_000_123_456_789] {
            var clock = UniversalProfilingDocuments.EventClock()
            var bytes: [UInt8] = []
            clock.appendTimestamp(unixNanoseconds: time, to: &bytes)
            clock.appendTimestamp(unixNanoseconds: time, to: &bytes)
            let once = UniversalProfilingDocuments.rfc3339(unixNanoseconds: time) + "\"}"
            #expect(String(decoding: bytes, as: UTF8.self) == once + once)
        }
        #expect(ElasticsearchBulkTarget<ProfilesBatch>.startsWithoutErrors(Array(#"{"took":3,"errors":false,"items":[]}"#.utf8)))
        #expect(!ElasticsearchBulkTarget<ProfilesBatch>.startsWithoutErrors(Array(#"{"took":3,"errors":true,"items":[]}"#.utf8)))
        #expect(!ElasticsearchBulkTarget<ProfilesBatch>.startsWithoutErrors(
            Array(#"{"items":[{"index":{"errors":false}}],"errors":true}"#.utf8)))
        // Wednesday 2024-01-03 → Monday 2024-01-01.
        #expect(UniversalProfilingDocuments.startOfWeek(1_704_240_000 + 3600) == 1_704_067_200)
        #expect(UniversalProfilingDocuments.startOfWeek(1_704_067_200) == 1_704_067_200)
        #expect(UniversalProfilingDocuments.startOfWeek(0) == 0)
    }

    @Test("the write-once set forgets the least recently used id")
    func recentlyWritten() {
        var set = RecentlyWrittenSet<Int>(capacity: 2)
        set.insert(1)
        set.insert(2)
        let touched = set.contains(1)
        #expect(touched)
        set.insert(3)
        let kept = (set.contains(1), set.contains(3), set.contains(2))
        #expect(kept == (true, true, false))
        #expect(set.count == 2)
    }
}
