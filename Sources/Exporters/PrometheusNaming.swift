import Profiles

/// Metric and label names for Prometheus, following the OpenTelemetry-to-Prometheus
/// translation rules (the Collector's translator with metric suffixes on):
///
/// - characters outside `[a-zA-Z0-9:]` split the name into tokens joined by `_`
///   (`samples.user.count` → `samples_user_count`);
/// - a unit suffix is added from the UCUM unit (`s` → `seconds`, `By` → `bytes`,
///   `a/s` → `..._per_second`); unit `1` and `{...}` annotations add none;
/// - monotonic sums end in `_total`; gauges with unit `1` end in `_ratio`;
/// - a name starting with a digit gets a leading `_`.
enum PrometheusNaming {
    private static let unitNames: [String: String] = [
        "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
        "us": "microseconds", "ns": "nanoseconds",
        "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
        "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
        "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
        "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
    ]
    private static let perUnitNames: [String: String] = [
        "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
    ]

    private static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == ":")
    }

    static func metricName(_ metric: Metric) -> String {
        var tokens = metric.name.split(whereSeparator: { !isNameCharacter($0) }).map(String.init)
        let (main, per) = unitSuffixes(metric.unit)
        if let main, !tokens.contains(main) { tokens.append(main) }
        if let per, !tokens.contains(per) { tokens.append(per) }
        switch metric.data {
        case .sum(_, _, isMonotonic: true):
            tokens.removeAll { $0 == "total" }
            tokens.append("total")
        case .gauge where metric.unit == "1":
            tokens.removeAll { $0 == "ratio" }
            tokens.append("ratio")
        default:
            break
        }
        var name = tokens.joined(separator: "_")
        if let first = name.first, first.isNumber { name = "_" + name }
        return name
    }

    /// The `main` and `per_<unit>` suffixes of a UCUM unit, sanitized.
    private static func unitSuffixes(_ unit: String) -> (String?, String?) {
        // Annotations in braces (`{samples}`) carry no unit.
        var unit = unit
        while let open = unit.firstIndex(of: "{"), let close = unit[open...].firstIndex(of: "}") {
            unit.removeSubrange(open...close)
        }
        let parts = unit.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map {
            $0.trimmingCharactersInSet(" ")
        }
        let main = parts.first.flatMap { $0.isEmpty ? nil : sanitizeUnit(unitNames[$0] ?? $0) }
        let per = parts.count > 1 && !parts[1].isEmpty
            ? sanitizeUnit(perUnitNames[parts[1]] ?? parts[1]).map { "per_" + $0 } : nil
        return (main, per)
    }

    private static func sanitizeUnit(_ unit: String) -> String? {
        let cleaned = unit.split(whereSeparator: { !isNameCharacter($0) }).joined(separator: "_")
        return cleaned.isEmpty ? nil : cleaned
    }

    /// A label name: invalid characters become `_`; a leading digit gets `key_`, a
    /// single leading `_` gets `key` (names starting `__` are reserved and kept).
    static func labelName(_ key: String) -> String {
        if key.hasPrefix("__") { return key }
        var name = String(key.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
        if let first = name.first {
            if first.isNumber { name = "key_" + name } else if first == "_" { name = "key" + name }
        }
        return name
    }
}

private extension Substring {
    func trimmingCharactersInSet(_ character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
