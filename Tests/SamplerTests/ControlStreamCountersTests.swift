import Testing
import WireFormat
@testable import SamplerCore

/// The stop log's "unwind tables" line: which counters it names.
@Suite struct ControlStreamCountersTests {
    @Test func namesTheControlStreamAndUnwinderCountersInWireOrder() {
        let counters = Sampler.controlStreamCounters
        #expect(counters.map(\.rawValue) == counters.map(\.rawValue).sorted())
        #expect(Set(counters).count == counters.count)
        for counter in [StatisticsCounter.unwindTablesLoaded, .controlStreamErrors, .unwindStacksTruncated,
                        .fileRequestsRefused, .unwindTablesEvicted] {
            #expect(counters.contains(counter), "\(counter)")
        }
    }

    @Test func leavesOutTheSampleAndProcessCounters() {
        let counters = Set(Sampler.controlStreamCounters)
        for counter in [StatisticsCounter.samplesCollected, .samplesSent, .dropsRingBufferFull, .bytesSent,
                        .samplesDiscardedUnsent, .processEventsLost] {
            #expect(!counters.contains(counter), "\(counter)")
        }
    }
}
