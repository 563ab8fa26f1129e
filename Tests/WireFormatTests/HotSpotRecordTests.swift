import Testing
@testable import StreamDecoding
@testable import WireFormat

/// Record 20 (HotSpot method), control record 21 (HotSpot process) and the `hotspot` stack's words.
@Suite struct HotSpotRecordTests {
    @Test func frameWordsRoundTrip() {
        let frames = [
            HotSpotFrame(method: 0x7f12_3456_7890, fingerprint: 0xdead_beef, position: 0x1234, slot: 126, kind: .compiled),
            HotSpotFrame(method: 0x8_0000_1000, fingerprint: 1, position: 0xffff_ffff, slot: 0, kind: .interpreted),
            HotSpotFrame(method: 0xffff_ffff_ffff, fingerprint: .max, position: 0, slot: 255, kind: .nativeWrapper),
        ]
        let words = frames.flatMap { frame -> [UInt64] in
            let (a, b) = frame.words
            return [a, b]
        }
        #expect(HotSpotFrame.frames(words: words) == frames)
        // An unknown kind is skipped, a partial frame is not read.
        #expect(HotSpotFrame.frames(words: [9 << 56, 0] + words.prefix(3)) == [frames[0]])
    }

    @Test func methodRecordRoundTrips() throws {
        let method = HotSpotMethodRecord(pid: 4242, method: 0x7f12_3456_7890, fingerprint: 0xabcd_ef01, featureVersion: 17,
                                         flags: 4, constMethod: Array(0..<64), className: [1, 2, 3], methodName: [],
                                         sourceFile: [9], lineTable: Array(repeating: 0xff, count: 512))
        let (records, error) = decodeChunked(encode([.record(.hotspotMethod(method))]), chunkSizes: [1, 7, 300])
        #expect(error == nil)
        #expect(records.contains(.hotspotMethod(method)))
    }

    @Test func codeRecordRoundTrips() throws {
        let code = HotSpotCodeRecord(pid: 4242, code: 0x7f12_3400_0010, fingerprint: 0x1357_9bdf, featureVersion: 17, flags: 2,
                                     method: 0x7f12_3456_7890, methodFingerprint: 0xabcd_ef01,
                                     metadata: [.init(address: 0x7f12_3456_7890, fingerprint: 0xabcd_ef01), .init(address: 0x8000, fingerprint: 0)],
                                     pcDescs: Array(repeating: 0xff, count: 2048), scopes: [0, 1, 2, 3])
        let (records, error) = decodeChunked(encode([.record(.hotspotCode(code))]), chunkSizes: [1, 7, 300])
        #expect(error == nil)
        #expect(records.contains(.hotspotCode(code)))
        // A compiled frame named by its code record keeps its kind on the wire.
        let frame = HotSpotFrame(method: 0x7f12_3400_0010, fingerprint: 0x1357_9bdf, position: 0x1c0, slot: 2, kind: .compiledCode)
        #expect(HotSpotFrame(words: frame.words.0, frame.words.1) == frame)
    }

    /// A hostile code record is refused before allocating: a huge metadata count, more entries
    /// or copy bytes than the decoder's bounds; the smallest valid one decodes.
    @Test func hostileCodeRecordsAreRefused() {
        func refused(_ build: (inout ByteWriter) -> Void) -> Bool {
            var writer = ByteWriter()
            writer.writeInt32(1)
            for field: UInt64 in [0x1000, 1, 17, 0, 0x2000, 1] { writer.writeVarint(field) }
            build(&writer)
            return writer.bytes.withUnsafeBytes { raw -> Bool in
                var reader = ByteReader(raw)
                do { _ = try reader.readHotSpotCode() } catch { return true }
                return false
            }
        }
        #expect(refused { $0.writeVarint(UInt64(1) << 40) })
        #expect(refused { w in
            w.writeVarint(UInt64(HotSpotCodeRecord.maximumMetadataEntries + 1))
            for _ in 0...HotSpotCodeRecord.maximumMetadataEntries { w.writeVarint(1 as UInt64); w.writeVarint(1 as UInt64) }
        })
        #expect(refused { w in
            w.writeVarint(0 as UInt64)
            w.writeVarint(UInt64(HotSpotCodeRecord.maximumCopyBytes + 1))
            w.writeBytes(Array(repeating: 0, count: HotSpotCodeRecord.maximumCopyBytes + 1))
            w.writeVarint(0 as UInt64)
        })
        #expect(!refused { w in for _ in 0..<3 { w.writeVarint(0 as UInt64) } })
    }

    @Test func processControlRecordRoundTrips() {
        let records: [ControlRecord] = [
            .hotspotProcess(HotSpotProcess(pid: 77, featureVersion: 17, codeCacheHeapsAddress: 0x7fd5_fd31_c600,
                                           callStubReturnAddressAddress: 0x7fd5_fd34_74d0, device: 0xfe00, inode: 322_035)),
            .hotspotProcess(HotSpotProcess(pid: -1, featureVersion: .max, codeCacheHeapsAddress: .max,
                                           callStubReturnAddressAddress: 0, device: .max, inode: 0)),
        ]
        for chunk in [1, 3, 1000] {
            let decoded = decodeControl(encodeControl(records), chunk: chunk)
            #expect(decoded.error == nil)
            #expect(decoded.records == records)
        }
    }

    /// A hotspot stack definition of an odd word count is refused.
    @Test func hotspotStackOfPartialFramesIsRefused() {
        var writer = ByteWriter()
        writer.writeStackDefinition(id: 1, kind: .hotspot, frames: [1, 2, 3])
        let refused = writer.bytes.withUnsafeBytes { raw -> Bool in
            var reader = ByteReader(raw)
            do { _ = try reader.readStackDefinition(limits: DecoderLimits.default) } catch { return true }
            return false
        }
        #expect(refused)
    }
}
