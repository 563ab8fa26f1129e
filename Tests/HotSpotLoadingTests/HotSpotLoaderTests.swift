import InterpreterLoading
import CTandemBPF
import HotSpotLayouts
import HotSpotLoading
import HotSpotSymbolization
import Testing
import WireFormat

/// The sampler's checks of control record 21 and its reading of the walker's ring records.
@Suite struct HotSpotLoaderTests {
    final class Storage: HotSpotMapStorage {
        var processes: [Int32: tandem_hotspot_process] = [:]
        var generation: UInt64 = 0
        var forgotten: [(Int32, UInt64, UInt32)] = []
        func writeProcess(pid: Int32, _ process: tandem_hotspot_process) -> Bool {
            processes[pid] = process
            return true
        }
        func removeProcess(pid: Int32) { processes[pid] = nil }
        func writeStreamGeneration(_ generation: UInt64) { self.generation = generation }
        func forgetMethod(pid: Int32, method: UInt64, fingerprint: UInt32) { forgotten.append((pid, method, fingerprint)) }
        var forgottenCodes: [(Int32, UInt64, UInt32)] = []
        func forgetCode(pid: Int32, code: UInt64, fingerprint: UInt32) { forgottenCodes.append((pid, code, fingerprint)) }
    }

    static let device: UInt64 = 0xfe00
    static let inode: UInt64 = 322_035
    static let text = Mapping(start: 0x7f00_0025_1000, end: 0x7f00_00fa_4000, fileOffset: 0x251000, device: device,
                              inode: inode, path: "/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so")
    /// libjvm's data and, after it, its anonymous .bss (described as the file's, as PROCMAP_QUERY's reader does).
    static func holding(_ pid: Int32, _ address: UInt64) -> DataMapping? {
        if address >= 0x7f00_012d_d000 && address < 0x7f00_0136_c000 {
            return DataMapping(start: 0x7f00_012d_d000, end: 0x7f00_0136_c000, device: device, inode: inode,
                                      isWritable: true, isExecutable: false)
        }
        if address >= text.start && address < text.end {
            return DataMapping(start: text.start, end: text.end, device: device, inode: inode,
                                      isWritable: false, isExecutable: true)
        }
        return nil
    }

    static func record(heaps: UInt64 = 0x7f00_0131_c600, stub: UInt64 = 0x7f00_0134_74d0, version: UInt32 = 17,
                       inode: UInt64 = inode) -> HotSpotProcess {
        HotSpotProcess(pid: 42, featureVersion: version, codeCacheHeapsAddress: heaps, callStubReturnAddressAddress: stub,
                       device: device, inode: inode)
    }

    @Test func aCheckedRecordIsLoadedWithTheSamplersLayout() throws {
        let storage = Storage()
        let loader = HotSpotLoader(storage: storage)
        loader.apply(Self.record(), executableMappings: [Self.text], mappingHolding: Self.holding)
        let process = try #require(storage.processes[42])
        #expect(process.code_cache_heaps == 0x7f00_0131_c600)
        #expect(Int(process.layout) == HotSpotLayout.index(ofFeatureVersion: 17))
        #expect(loader.counters.processesLoaded == 1)
        loader.beginStream()
        #expect(storage.processes.isEmpty && storage.generation == 1)
    }

    @Test func uncheckableRecordsAreRefused() {
        let cases: [(HotSpotProcess, [Mapping]?, String)] = [
            (Self.record(version: 8), [Self.text], "no layout"),
            (Self.record(), nil, "not a process"),
            (Self.record(inode: 1), [Self.text], "maps no executable file"),
            (Self.record(heaps: 0x7f00_0030_0000), [Self.text], "writable data"),  // in the text
            (Self.record(stub: 0x1000), [Self.text], "no mapping"),
            (Self.record(heaps: 0x7f00_0136_bffc), [Self.text], "runs past"),
        ]
        for (record, mappings, reason) in cases {
            let storage = Storage()
            let loader = HotSpotLoader(storage: storage)
            loader.apply(record, executableMappings: mappings, mappingHolding: Self.holding)
            #expect(storage.processes.isEmpty, "\(reason)")
            #expect(loader.lastRejection?.contains(reason) == true, "\(loader.lastRejection ?? "") / \(reason)")
        }
        let off = HotSpotLoader(storage: nil)
        off.apply(Self.record(), executableMappings: [Self.text], mappingHolding: Self.holding)
        #expect(off.lastRejection?.contains("--no-interpreter-frames") == true)
    }

    @Test func theWalkersLayoutIsTheTables() throws {
        let layout = try #require(HotSpotLayout.supported.first)
        let walker = tandem_hotspot_layout(layout)
        #expect(Int(walker.feature_version) == layout.featureVersion)
        #expect(walker.code_blob_frame_size == layout.codeBlobFrameSize)
        #expect(walker.interpreter_method == layout.interpreterFrameMethod)
        #expect(walker.interpreter_bcp == layout.interpreterFrameBCP)
        #expect(walker.const_method_size_words == layout.constMethodSizeWords)
    }

    /// A method event as the walker lays it out becomes record 20 with the copies' valid bytes.
    @Test func methodEventsBecomeRecords() throws {
        var event = [UInt8](repeating: 0xee, count: HotSpotRingRecords.methodRecordSize)
        var fields = tandem_hotspot_method_event_fields()
        fields.kind = UInt32(TANDEM_EVENT_HOTSPOT_METHOD)
        fields.pid = 42
        fields.method = 0x7f00_dead_0000
        fields.fingerprint = 0x1234_5677
        fields.layout = 0
        fields.const_method_bytes = 64
        fields.class_name_bytes = 10
        fields.method_name_bytes = 3
        fields.source_file_bytes = 0
        fields.line_table_bytes = 600  // more than the bound: cut to it
        withUnsafeBytes(of: fields) { event.replaceSubrange(0..<$0.count, with: $0) }
        let record = try #require(event.withUnsafeBytes { HotSpotRingRecords.methodRecord($0) })
        #expect(record.pid == 42 && record.method == 0x7f00_dead_0000 && record.featureVersion == 17)
        #expect(record.constMethod.count == 64 && record.className.count == 10 && record.methodName.count == 3)
        #expect(record.sourceFile.isEmpty && record.lineTable.count == Int(TANDEM_HOTSPOT_LINE_TABLE_BYTES))
        // A short record is no record.
        #expect(event.prefix(100).withUnsafeBytes { HotSpotRingRecords.methodRecord($0) } == nil)
        // Without a live stream the walker is told to send it again.
        let storage = Storage()
        let loader = HotSpotLoader(storage: storage)
        #expect(event.withUnsafeBytes { loader.methodRecord($0, streamIsLive: false) } == nil)
        #expect(storage.forgotten.count == 1 && storage.forgotten[0].1 == 0x7f00_dead_0000)
        #expect(event.withUnsafeBytes { HotSpotRingRecords.sideRecordKind(of: $0) } == UInt16(TANDEM_HOTSPOT_RECORD_METHOD.rawValue))
    }

    /// A code event becomes record 34 with its copies' valid bytes and its metadata entries;
    /// the loader tells it from a method event by its record field.
    @Test func codeEventsBecomeRecords() throws {
        var event = [UInt8](repeating: 0xee, count: HotSpotRingRecords.codeRecordSize)
        var fields = tandem_hotspot_code_event_fields()
        fields.kind = UInt32(TANDEM_EVENT_HOTSPOT_METHOD)
        fields.pid = 42
        fields.code = 0x7f00_c0de_0000
        fields.fingerprint = 0x2468_ace1
        fields.layout = 0
        fields.flags = UInt32(TANDEM_HOTSPOT_SCOPES_CUT.rawValue)
        fields.pc_desc_bytes = 48
        fields.scopes_bytes = 5000  // more than the bound: cut to it
        fields.metadata_entries = 2
        fields.record = UInt16(TANDEM_HOTSPOT_RECORD_CODE.rawValue)
        fields.method = 0x7f00_dead_0000
        fields.method_fingerprint = 0x1234_5677
        withUnsafeBytes(of: fields) { event.replaceSubrange(0..<$0.count, with: $0) }
        let metadata = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.metadata)!
        let fingerprints = MemoryLayout<tandem_hotspot_code_event>.offset(of: \.metadata_fingerprints)!
        withUnsafeBytes(of: (UInt64(0x7f00_dead_0000), UInt64(0x7f00_beef_0000))) { event.replaceSubrange(metadata..<metadata + 16, with: $0) }
        withUnsafeBytes(of: (UInt32(0x1234_5677), UInt32(0))) { event.replaceSubrange(fingerprints..<fingerprints + 8, with: $0) }
        let loader = HotSpotLoader(storage: Storage())
        let record = try #require(event.withUnsafeBytes { loader.sideRecord($0, streamIsLive: true) })
        guard case .hotspotCode(let code) = record else {
            Issue.record("not a code record: \(record)")
            return
        }
        #expect(code.pid == 42 && code.code == 0x7f00_c0de_0000 && code.fingerprint == 0x2468_ace1 && code.featureVersion == 17)
        #expect(code.method == 0x7f00_dead_0000 && code.methodFingerprint == 0x1234_5677)
        #expect(code.pcDescs.count == 48 && code.scopes.count == Int(TANDEM_HOTSPOT_SCOPES_BYTES))
        #expect(code.metadata == [.init(address: 0x7f00_dead_0000, fingerprint: 0x1234_5677), .init(address: 0x7f00_beef_0000, fingerprint: 0)])
        // Without a live stream the walker is told to send it again.
        let storage = Storage()
        let offline = HotSpotLoader(storage: storage)
        #expect(event.withUnsafeBytes { offline.sideRecord($0, streamIsLive: false) } == nil)
        #expect(storage.forgottenCodes.count == 1 && storage.forgottenCodes[0].1 == 0x7f00_c0de_0000 && storage.forgotten.isEmpty)
    }

    /// A compiled frame whose code record was sent names its nmethod; others keep their method.
    @Test func compiledFramesWithCodeRecordsNameTheirNMethod() {
        let sampleSize = 16
        var event = [UInt8](repeating: 0, count: sampleSize + 8 + 2 * MemoryLayout<tandem_hotspot_frame>.stride)
        withUnsafeBytes(of: (UInt32(2), UInt32(0))) { event.replaceSubrange(sampleSize..<sampleSize + 8, with: $0) }
        var compiled = tandem_hotspot_frame()
        compiled.method = 0x7f00_dead_0000
        compiled.code = 0x7f00_c0de_0000
        compiled.fingerprint = 0x1234_5677
        compiled.code_fingerprint = 0x2468_ace1
        compiled.position = 0x40
        compiled.slot = 1
        compiled.kind = UInt8(TANDEM_HOTSPOT_COMPILED.rawValue)
        var lost = compiled
        lost.code_fingerprint = 0
        lost.slot = 2
        withUnsafeBytes(of: (compiled, lost)) { event.replaceSubrange(sampleSize + 8..<event.count, with: $0) }
        var words: [UInt64] = []
        _ = event.withUnsafeBytes { HotSpotRingRecords.appendFrameWords(of: $0, sampleSize: sampleSize, to: &words) }
        #expect(HotSpotFrame.frames(words: words) == [
            HotSpotFrame(method: 0x7f00_c0de_0000, fingerprint: 0x2468_ace1, position: 0x40, slot: 1, kind: .compiledCode),
            HotSpotFrame(method: 0x7f00_dead_0000, fingerprint: 0x1234_5677, position: 0x40, slot: 2, kind: .compiled),
        ])
    }
}
