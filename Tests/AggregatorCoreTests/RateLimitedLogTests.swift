import Logging
import RateLimitedLogging
import Synchronization
import Testing

@Suite struct RateLimitedLogTests {
    /// A clock the test moves by hand.
    final class ManualClock: Sendable {
        let instant = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    @Test func firstLineInFullThenOneSummaryPerIntervalWithTheCount() {
        let log = RecordedLog()
        let clock = ManualClock()
        let limited = RateLimitedLog(what: "refusals", interval: .seconds(10), now: { clock.instant.withLock { $0 } })
        for index in 0..<1000 { limited.log(.warning, "refusal \(index)", to: log.logger) }
        #expect(log.messages.withLock { $0 } == ["warning: refusal 0"])
        #expect(limited.suppressedCount == 999)
        #expect(!limited.flushIfDue(.warning, to: log.logger), "not before the interval")
        clock.advance(.seconds(10))
        #expect(limited.flushIfDue(.warning, to: log.logger))
        #expect(log.messages.withLock { $0.last } == "warning: 999 more refusals not logged (at most one line per 10s)")
        limited.log(.warning, "refusal 1000", to: log.logger)
        clock.advance(.seconds(11))
        limited.log(.warning, "refusal 1001", to: log.logger)
        #expect(log.messages.withLock { $0.suffix(1) } == ["warning: refusal 1001 (1 more refusals not logged in the 10s before)"])
        #expect(log.messages.withLock { $0.count } == 3)
    }
}
