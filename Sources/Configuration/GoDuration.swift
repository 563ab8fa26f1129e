/// Durations written the way Go's `time.ParseDuration` reads them, as the
/// OpenTelemetry Collector's configuration does: `30s`, `1m30s`, `250ms`,
/// `1.5h`, `0s`, `0`. Units: `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m`, `h`.
public enum GoDuration {
    /// Why a duration text was refused.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "invalid duration `\(text)`: \(reason)" }
    }

    /// Parses `text` into signed nanoseconds.
    public static func nanoseconds(parsing text: String) throws(ParseError) -> Int64 {
        var scalars = Substring(text).unicodeScalars[...]
        func fail(_ reason: String) -> ParseError { ParseError(text: text, reason: reason) }

        var negative = false
        if let sign = scalars.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            scalars = scalars.dropFirst()
        }
        if scalars.elementsEqual("0".unicodeScalars) { return 0 }
        if scalars.isEmpty { throw fail("empty") }

        var total: UInt64 = 0
        while !scalars.isEmpty {
            // The number: digits, optionally a fraction.
            var whole: UInt64 = 0
            var sawDigits = false
            var overflow = false
            while let c = scalars.first, let digit = c.digitValue {
                sawDigits = true
                let (times10, o1) = whole.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
                overflow = overflow || o1 || o2
                whole = sum
                scalars = scalars.dropFirst()
            }
            var fraction: UInt64 = 0
            var fractionScale: UInt64 = 1
            if scalars.first == "." {
                scalars = scalars.dropFirst()
                while let c = scalars.first, let digit = c.digitValue {
                    sawDigits = true
                    // Digits beyond what UInt64 can scale are below a nanosecond anyway.
                    if fractionScale < 1_000_000_000_000_000_000 {
                        fraction = fraction * 10 + UInt64(digit)
                        fractionScale *= 10
                    }
                    scalars = scalars.dropFirst()
                }
            }
            guard sawDigits else { throw fail("expected a number") }
            guard !overflow else { throw fail("too large") }

            // The unit: everything up to the next digit or dot.
            var unit = ""
            while let c = scalars.first, c.digitValue == nil, c != "." {
                unit.unicodeScalars.append(c)
                scalars = scalars.dropFirst()
            }
            let perUnit: UInt64
            switch unit {
            case "ns": perUnit = 1
            case "us", "µs", "μs": perUnit = 1_000
            case "ms": perUnit = 1_000_000
            case "s": perUnit = 1_000_000_000
            case "m": perUnit = 60_000_000_000
            case "h": perUnit = 3_600_000_000_000
            case "": throw fail("missing unit (one of ns, us, ms, s, m, h)")
            default: throw fail("unknown unit `\(unit)` (one of ns, us, ms, s, m, h)")
            }
            let (wholeNanos, o1) = whole.multipliedReportingOverflow(by: perUnit)
            let fractionNanos = UInt64((Double(fraction) / Double(fractionScale)) * Double(perUnit))
            let (partial, o2) = wholeNanos.addingReportingOverflow(fractionNanos)
            let (newTotal, o3) = total.addingReportingOverflow(partial)
            guard !(o1 || o2 || o3), newTotal <= UInt64(Int64.max) else { throw fail("too large") }
            total = newTotal
        }
        return negative ? -Int64(total) : Int64(total)
    }

    /// Parses `text` into a `Duration`.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        .nanoseconds(try nanoseconds(parsing: text))
    }

    /// Formats nanoseconds the way Go prints a `time.Duration` (`1m30s`, `250ms`, `0s`).
    public static func format(nanoseconds value: Int64) -> String {
        if value == 0 { return "0s" }
        let sign = value < 0 ? "-" : ""
        let magnitude = value.magnitude
        if magnitude < 1_000 { return "\(sign)\(magnitude)ns" }
        if magnitude < 1_000_000 { return sign + decimal(magnitude, scale: 1_000) + "µs" }
        if magnitude < 1_000_000_000 { return sign + decimal(magnitude, scale: 1_000_000) + "ms" }
        var text = sign
        let hours = magnitude / 3_600_000_000_000
        let minutes = (magnitude / 60_000_000_000) % 60
        let secondsNanos = magnitude % 60_000_000_000
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        text += decimal(secondsNanos, scale: 1_000_000_000) + "s"
        return text
    }

    /// Formats a `Duration` the way Go prints it.
    public static func format(_ duration: Duration) -> String {
        format(nanoseconds: duration.nanosecondsClamped)
    }

    private static func decimal(_ value: UInt64, scale: UInt64) -> String {
        let whole = value / scale
        var fraction = value % scale
        guard fraction != 0 else { return "\(whole)" }
        var digits = String(fraction)
        let width = String(scale).count - 1
        digits = String(repeating: "0", count: width - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast(); fraction /= 10 }
        return "\(whole).\(digits)"
    }
}

extension Unicode.Scalar {
    fileprivate var digitValue: Int? {
        (0x30...0x39).contains(value) ? Int(value - 0x30) : nil
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`'s range.
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}
