import Testing
@testable import StreamDecoding
@testable import WireFormat

@Suite struct StatisticsCountersTests {
    @Test func setGetAndRemoveInAnyOrderIterateInCodeOrder() {
        var counters = StatisticsCounters()
        let codes: [UInt64] = [40, 3, 73, 1, 72, 2, 1_000_000, 0]
        for code in codes { counters[StatisticsCounter(rawValue: code)] = code &* 10 }
        #expect(counters.count == codes.count)
        #expect(counters.map(\.key.rawValue) == codes.sorted())
        for code in codes { #expect(counters[StatisticsCounter(rawValue: code)] == code &* 10, "\(code)") }
        #expect(counters[StatisticsCounter(rawValue: 4)] == nil)
        #expect(counters[StatisticsCounter(rawValue: 2_000_000)] == nil)

        counters[StatisticsCounter(rawValue: 3)] = 7
        #expect(counters[StatisticsCounter(rawValue: 3)] == 7 && counters.count == codes.count)
        counters[StatisticsCounter(rawValue: 3)] = nil
        counters[StatisticsCounter(rawValue: 5)] = nil
        #expect(counters[StatisticsCounter(rawValue: 3)] == nil && counters.count == codes.count - 1)
        #expect(counters.map(\.key.rawValue) == codes.filter { $0 != 3 }.sorted())
    }

    @Test func equalityIsByContentNotByTheOrderOfSetting() {
        var forward = StatisticsCounters()
        var backward = StatisticsCounters(minimumCapacity: 8)
        for code in UInt64(1)...20 { forward[StatisticsCounter(rawValue: code)] = code }
        for code in (UInt64(1)...20).reversed() { backward[StatisticsCounter(rawValue: code)] = code }
        #expect(forward == backward && forward.hashValue == backward.hashValue)
        backward[.drains] = 99
        #expect(forward != backward)
        #expect(([.drains: 1, .samplesSent: 2] as StatisticsCounters) == [.samplesSent: 2, .drains: 1])
    }

    @Test func pairsInAnyOrderWithTheLaterOfTwoWinning() {
        let pairs: [(StatisticsCounter, UInt64)] = [(.drains, 1), (.samplesSent, 5), (.drains, 2), (.samplesCollected, 9), (.drains, 3)]
        let counters = StatisticsCounters(pairs: pairs)
        #expect(counters.count == 3)
        #expect(counters[.drains] == 3 && counters[.samplesSent] == 5 && counters[.samplesCollected] == 9)
        #expect(counters.map(\.key.rawValue) == counters.map(\.key.rawValue).sorted())
    }

    /// A stream's record may list its counters in any order, repeated: the decoder keeps
    /// the last value of each, and a record of many unsorted counters decodes.
    @Test func aRecordWithUnsortedAndRepeatedCountersDecodes() throws {
        var stream = RawStream()
        let codes = (UInt64(1)...5_000).reversed()
        stream.record(.statistics) {
            $0.writeVarint(77 as UInt64)
            $0.writeVarint(UInt64(codes.count + 1))
            for code in codes {
                $0.writeVarint(code)
                $0.writeVarint(code + 1)
            }
            $0.writeVarint(StatisticsCounter.drains.rawValue)
            $0.writeVarint(12_345 as UInt64)
        }
        let result = decodeChunked(stream.bytes, chunkSizes: [4096])
        #expect(result.error == nil)
        guard case .statistics(let statistics)? = result.records.last else {
            Issue.record("no statistics record: \(result.records)")
            return
        }
        #expect(statistics.time == 77 && statistics.counters.count == codes.count)
        #expect(statistics[.drains] == 12_345)
        #expect(statistics[.samplesCollected] == StatisticsCounter.samplesCollected.rawValue + 1)
        #expect(statistics.counters.map(\.key.rawValue) == Array(UInt64(1)...5_000))
    }

    /// The encoder writes the counters in code order, and they read back equal.
    @Test func theEncoderWritesTheCountersInCodeOrder() throws {
        let statistics = SamplerStatistics(time: 5, counters: [.drains: 4, .samplesCollected: 10, .doorbellRings: 1, .samplesSent: 9])
        var writer = ByteWriter()
        writer.writeStatistics(statistics)
        #expect(writer.bytes == [5, 4, 1, 10, 2, 9, 72, 4, 73, 1])
        var stream = RawStream()
        stream.record(.statistics) { $0.writeBytes(writer.bytes) }
        let result = decodeChunked(stream.bytes, chunkSizes: [4096])
        #expect(result.records.last == .statistics(statistics))
    }
}
