import Foundation
import Configuration

/// Reads one exporter's configuration mapping, with errors that name the full key path
/// and, for an unknown key, the closest valid one.
struct ConfigReader {
    /// Dotted path of this mapping, e.g. `exporters.otlphttp/backup`.
    let path: String
    let node: ConfigNode?

    init(path: String, node: ConfigNode?) throws(ConfigurationError) {
        self.path = path
        switch node {
        case nil, .null?: self.node = nil
        case .mapping?: self.node = node
        case .scalar(let text)?:
            throw ConfigurationError(path: path, problem: "expected a mapping of settings, found `\(text)`")
        case .sequence?:
            throw ConfigurationError(path: path, problem: "expected a mapping of settings, found a list")
        }
    }

    /// Fails on any key not in `known`, suggesting the closest known key.
    func requireOnly(_ known: [String]) throws(ConfigurationError) {
        for key in node?.keys ?? [] where !known.contains(key) {
            let fix = closest(to: key, in: known).map { "did you mean `\($0)`?" }
                ?? "valid keys: \(known.map { "`\($0)`" }.joined(separator: ", "))"
            throw ConfigurationError(path: "\(path).\(key)", problem: "unknown setting", fix: fix)
        }
    }

    func has(_ key: String) -> Bool { node?[key] != nil }

    private func scalar(_ key: String, expecting what: String) throws(ConfigurationError) -> String? {
        switch node?[key] {
        case nil, .null?: return nil
        case .scalar(let text)?: return text
        case .sequence?, .mapping?:
            throw ConfigurationError(path: "\(path).\(key)", problem: "expected \(what)")
        }
    }

    func string(_ key: String) throws(ConfigurationError) -> String? {
        try scalar(key, expecting: "a string")
    }

    func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let text = try scalar(key, expecting: "true or false") else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw ConfigurationError(path: "\(path).\(key)", problem: "expected true or false, found `\(text)`")
        }
    }

    func int(_ key: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text = try scalar(key, expecting: "an integer") else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(path: "\(path).\(key)",
                                     problem: "expected an integer from \(range.lowerBound) to \(range.upperBound), found `\(text)`")
        }
        return value
    }

    func double(_ key: String, range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let text = try scalar(key, expecting: "a number") else { return nil }
        guard let value = Double(text), range.contains(value) else {
            throw ConfigurationError(path: "\(path).\(key)",
                                     problem: "expected a number from \(range.lowerBound) to \(range.upperBound), found `\(text)`")
        }
        return value
    }

    /// A Go-style duration (`500ms`, `5s`, `1m30s`, `1h`), as the Collector writes them.
    func duration(_ key: String) throws(ConfigurationError) -> Duration? {
        guard let text = try scalar(key, expecting: "a duration such as `5s`") else { return nil }
        guard let value = parseDuration(text) else {
            throw ConfigurationError(path: "\(path).\(key)", problem: "`\(text)` is not a duration",
                                     fix: "write a number and a unit, e.g. `500ms`, `5s`, `1m30s`")
        }
        return value
    }

    /// One value from a fixed set.
    func choice(_ key: String, _ choices: [String]) throws(ConfigurationError) -> String? {
        guard let text = try string(key) else { return nil }
        guard choices.contains(text) else {
            let fix = closest(to: text, in: choices).map { "did you mean `\($0)`?" }
                ?? "use one of \(choices.map { "`\($0)`" }.joined(separator: ", "))"
            throw ConfigurationError(path: "\(path).\(key)", problem: "`\(text)` is not a valid value", fix: fix)
        }
        return text
    }

    /// A list of strings; a single string counts as a list of one.
    func stringList(_ key: String) throws(ConfigurationError) -> [String]? {
        switch node?[key] {
        case nil, .null?: return nil
        case .scalar(let text)?: return [text]
        case .sequence(let items)?:
            var result: [String] = []
            for (index, item) in items.enumerated() {
                guard case .scalar(let text) = item else {
                    throw ConfigurationError(path: "\(path).\(key)[\(index)]", problem: "expected a string")
                }
                result.append(text)
            }
            return result
        case .mapping?:
            throw ConfigurationError(path: "\(path).\(key)", problem: "expected a list of strings")
        }
    }

    /// A mapping of string to string, in document order (e.g. HTTP headers).
    func stringMap(_ key: String) throws(ConfigurationError) -> [(String, String)]? {
        switch node?[key] {
        case nil, .null?: return nil
        case .mapping(let entries)?:
            var result: [(String, String)] = []
            for entry in entries {
                switch entry.value {
                case .scalar(let text): result.append((entry.key, text))
                case .null: result.append((entry.key, ""))
                default: throw ConfigurationError(path: "\(path).\(key).\(entry.key)", problem: "expected a string")
                }
            }
            return result
        default:
            throw ConfigurationError(path: "\(path).\(key)", problem: "expected a mapping of names to values")
        }
    }

    /// A nested settings mapping.
    func child(_ key: String) throws(ConfigurationError) -> ConfigReader {
        try ConfigReader(path: "\(path).\(key)", node: node?[key])
    }
}

/// Parses `1h2m3.5s`, `250ms`, `10us`, `0`; nil when malformed.
func parseDuration(_ text: String) -> Duration? {
    let text = text.trimmingCharacters(in: .whitespaces)
    if text == "0" { return .zero }
    var total: Double = 0
    var rest = Substring(text)
    guard !rest.isEmpty else { return nil }
    let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
    while !rest.isEmpty {
        let number = rest.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number) else { return nil }
        rest = rest.dropFirst(number.count)
        // Longest unit first, so `ms` is not read as `m`.
        guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
        rest = rest.dropFirst(unit.0.count)
        total += value * unit.1
    }
    return .nanoseconds(Int64((total * 1e9).rounded()))
}

/// The candidate nearest to `word` by edit distance, if reasonably near.
func closest(to word: String, in candidates: [String]) -> String? {
    // A candidate that the word starts with (or that starts with the word) is the likely intent.
    let lower = word.lowercased()
    if let prefixed = candidates.first(where: { !$0.isEmpty && (lower.hasPrefix($0.lowercased()) || $0.lowercased().hasPrefix(lower)) && !lower.isEmpty }) {
        return prefixed
    }
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

extension DeliverySettings {
    /// The keys that ``init(reading:)`` understands, for ``ConfigReader/requireOnly(_:)``.
    static let keys = ["timeout", "sending_queue", "retry_on_failure"]

    /// Reads `timeout`, `sending_queue.{enabled, queue_size}` and
    /// `retry_on_failure.{enabled, initial_interval, max_interval, max_elapsed_time,
    /// multiplier, randomization_factor}`.
    init(reading config: ConfigReader) throws(ConfigurationError) {
        self.init()
        if let timeout = try config.duration("timeout") {
            guard timeout > .zero else {
                throw ConfigurationError(path: "\(config.path).timeout", problem: "must be greater than zero")
            }
            self.timeout = timeout
        }
        let queue = try config.child("sending_queue")
        try queue.requireOnly(["enabled", "queue_size"])
        if let size = try queue.int("queue_size", range: 1...1_000_000) { queueSize = size }
        // Without a queue the Collector blocks the caller; tandem keeps one request in flight instead.
        if try queue.bool("enabled") == false { queueSize = 1 }
        let retry = try config.child("retry_on_failure")
        try retry.requireOnly(["enabled", "initial_interval", "max_interval", "max_elapsed_time",
                               "multiplier", "randomization_factor"])
        if let enabled = try retry.bool("enabled") { retryEnabled = enabled }
        if let value = try retry.duration("initial_interval") { initialInterval = value }
        if let value = try retry.duration("max_interval") { maxInterval = value }
        if let value = try retry.duration("max_elapsed_time") { maxElapsedTime = value == .zero ? .seconds(Int64.max / 2) : value }
        if let value = try retry.double("multiplier", range: 1...100) { multiplier = value }
        if let value = try retry.double("randomization_factor", range: 0...1) { randomizationFactor = value }
    }
}
