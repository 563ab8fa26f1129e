import Logging
import Synchronization

/// Bounds how often one kind of event is logged: the first occurrence is logged in
/// full, later ones within `interval` of the last line are only counted, and the next
/// line (another occurrence's, or `flushIfDue`'s summary) says how many were left out.
///
/// A peer that can trigger a log line at will (a refused connection, a malformed
/// record) could otherwise fill the disk: one `RateLimitedLog` per kind of event keeps
/// that to about one line per `interval`, and the count is never lost. Shared by every
/// part of the aggregator that logs on behalf of a peer; the caller still counts the
/// events in its own statistics.
public final class RateLimitedLog: Sendable {
    /// What is being limited, plural, for the summary line, e.g. "refused connections".
    public let what: String
    /// At most one line per this interval (after the first).
    public let interval: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    private struct State {
        var lastLine: ContinuousClock.Instant?
        var suppressed = 0
    }

    /// `now` is injectable so that tests need no clock; it defaults to `ContinuousClock`.
    public init(what: String, interval: Duration = .seconds(10),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.what = what
        self.interval = interval
        self.now = now
    }

    /// Logs `message` unless a line was logged less than `interval` ago, in which case the
    /// occurrence is only counted. A logged message carries the count left out before it.
    /// Returns whether it logged. `file`, `function` and `line` are the caller's, so that
    /// the line names where it was logged (swift-log derives its `source` from `file`).
    @discardableResult
    public func log(_ level: Logger.Level, _ message: @autoclosure () -> String, to logger: Logger,
                    file: String = #fileID, function: String = #function, line: UInt = #line) -> Bool {
        let time = now()
        let suppressed: Int? = state.withLock { state in
            if let last = state.lastLine, last.duration(to: time) < interval {
                state.suppressed += 1
                return nil
            }
            defer { state.suppressed = 0 }
            state.lastLine = time
            return state.suppressed
        }
        guard let suppressed else { return false }
        let text = message()
        let logged = suppressed > 0 ? "\(text) (\(suppressed) more \(what) not logged in the \(interval.formattedSeconds) before)" : text
        logger.log(level: level, "\(logged)", file: file, function: function, line: line)
        return true
    }

    /// Logs the number of occurrences left out, if any, once `interval` has passed since the
    /// last line (or at once with `force`, e.g. at shutdown). Call it from a periodic task so
    /// that the end of a burst is reported even if nothing follows it.
    @discardableResult
    public func flushIfDue(_ level: Logger.Level, to logger: Logger, force: Bool = false,
                           file: String = #fileID, function: String = #function, line: UInt = #line) -> Bool {
        let time = now()
        let suppressed: Int = state.withLock { state in
            guard state.suppressed > 0 else { return 0 }
            if !force, let last = state.lastLine, last.duration(to: time) < interval { return 0 }
            defer { state.suppressed = 0 }
            state.lastLine = time
            return state.suppressed
        }
        guard suppressed > 0 else { return false }
        logger.log(level: level, "\(suppressed) more \(what) not logged (at most one line per \(interval.formattedSeconds))",
                   file: file, function: function, line: line)
        return true
    }

    /// Occurrences counted but not logged yet.
    public var suppressedCount: Int { state.withLock { $0.suppressed } }
}

extension Duration {
    /// "10s", "0.5s": for log lines.
    fileprivate var formattedSeconds: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds)s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18)s"
    }
}
