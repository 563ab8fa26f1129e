/// What a profile's counts measure, for the outputs that print them: on-CPU
/// profiles count samples, off-CPU profiles the nanoseconds threads waited.
public enum ProfileWeightUnit: Hashable, Sendable {
    case samples
    /// Nanoseconds, printed as milliseconds.
    case nanoseconds

    /// `count` as read: "1 sample", "12 samples", "3.25 ms".
    public func describe(_ count: Int64) -> String {
        switch self {
        case .samples: samplesText(count)
        case .nanoseconds: "\(milliseconds(count)) ms"
        }
    }

    /// A column value without its unit: the count, or milliseconds with two decimals.
    func number(_ count: Int64) -> String {
        switch self {
        case .samples: "\(count)"
        case .nanoseconds: milliseconds(count)
        }
    }

    /// A table column's heading for `number`.
    var columnHeading: String {
        switch self {
        case .samples: "samples"
        case .nanoseconds: "ms"
        }
    }

    /// Nanoseconds in milliseconds, rounded to two decimals.
    private func milliseconds(_ nanoseconds: Int64) -> String {
        let hundredths = nanoseconds / 10_000 + (nanoseconds % 10_000 >= 5_000 ? 1 : 0)
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
