/// Reads typed values out of one mapping of the configuration, and names the
/// dotted path (and line, when known) of anything that is wrong. Component
/// layers (exporters) use it on their `ComponentConfig.node` so that every
/// configuration error looks and helps alike:
///
///     let reader = try ConfigMappingReader(exporter.node, path: exporter.path,
///                                   locations: configuration.document.locations)
///     try reader.requireOnlyKeys(["endpoint", "timeout"])
///     let timeout = try reader.duration("timeout") ?? .seconds(30)
public struct ConfigMappingReader: Sendable {
    /// Dotted path of the mapping read.
    public let path: String
    public let entries: [ConfigEntry]
    public let locations: [String: ConfigLocation]

    /// A reader over `node`, which must be a mapping or empty (`key:` with no value).
    public init(_ node: ConfigNode?, path: String, locations: [String: ConfigLocation] = [:]) throws(ConfigurationError) {
        self.path = path
        self.locations = locations
        switch node {
        case nil, .null?:
            entries = []
        case .mapping(let entries)?:
            self.entries = entries
        case let other?:
            entries = []
            throw Self.error(at: path, "must be a mapping of `key: value` lines, not \(Self.describe(other))",
                             fix: nil, locations: locations)
        }
    }

    public static func error(at path: String, _ problem: String, fix: String?,
                      locations: [String: ConfigLocation]) -> ConfigurationError {
        let location = locations[path]
        return ConfigurationError(path: path, problem: problem, fix: fix,
                                  line: location?.line, column: location?.column)
    }

    public func error(at path: String, _ problem: String, fix: String? = nil) -> ConfigurationError {
        Self.error(at: path, problem, fix: fix, locations: locations)
    }

    public func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public var keys: [String] { entries.map(\.key) }

    public subscript(_ key: String) -> ConfigNode? { entries.first { $0.key == key }?.value }

    public func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// Refuses every key not in `allowed`, suggesting the closest allowed one.
    public func requireOnlyKeys(_ allowed: [String], noun: String = "keys") throws(ConfigurationError) {
        for entry in entries where !allowed.contains(entry.key) {
            throw error(at: childPath(entry.key), "unknown key `\(entry.key)`",
                        fix: KeySuggestion.fix(for: entry.key, candidates: allowed, noun: noun))
        }
    }

    /// A short description of a node's kind for messages.
    public static func describe(_ node: ConfigNode) -> String {
        switch node {
        case .null: return "an empty value"
        case .scalar(let text): return "`\(text)`"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    private func scalar(_ key: String, expected: String) throws(ConfigurationError) -> String? {
        switch self[key] {
        case nil: return nil
        case .scalar(let text)?: return text
        case let other?:
            throw error(at: childPath(key), "must be \(expected), not \(Self.describe(other))",
                        fix: "write `\(key): <\(expected)>`")
        }
    }

    public func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let text = try scalar(key, expected: "true or false") else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            throw error(at: childPath(key), "must be true or false, not `\(text)`", fix: "write `\(key): true` or `\(key): false`")
        }
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let text = try scalar(key, expected: "a whole number") else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw error(at: childPath(key), "must be a whole number, not `\(text)`",
                        fix: "write a number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard range.contains(value) else {
            throw error(at: childPath(key), "\(value) is out of range",
                        fix: "write a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func number(_ key: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        guard let text = try scalar(key, expected: "a number") else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw error(at: childPath(key), "must be a number, not `\(text)`",
                        fix: "write a number from \(range.lowerBound) to \(range.upperBound)")
        }
        guard range.contains(value) else {
            throw error(at: childPath(key), "\(text) is out of range",
                        fix: "write a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func string(_ key: String) throws(ConfigurationError) -> String? {
        try scalar(key, expected: "a string")
    }

    /// A Go-style duration (`30s`, `1m`, `0s`), not negative.
    public func duration(_ key: String) throws(ConfigurationError) -> Duration? {
        guard let text = try scalar(key, expected: "a duration such as 30s") else { return nil }
        let nanoseconds: Int64
        do {
            nanoseconds = try GoDuration.nanoseconds(parsing: text)
        } catch {
            // A bare number other than 0 is most likely seconds written without a unit.
            let fix = Int(text).map { "write a unit, e.g. `\($0)s`" } ?? "write a duration such as `30s`, `1m30s` or `250ms`"
            throw self.error(at: childPath(key), "`\(text)` is not a duration: \(error.reason)", fix: fix)
        }
        guard nanoseconds >= 0 else {
            throw error(at: childPath(key), "must not be negative", fix: "write `0s` or a positive duration")
        }
        return .nanoseconds(nanoseconds)
    }

    /// A list of strings; a single scalar is refused (the Collector refuses it too).
    public func stringList(_ key: String) throws(ConfigurationError) -> [String]? {
        switch self[key] {
        case nil: return nil
        case .null?: return []
        case .sequence(let items)?:
            var texts: [String] = []
            for (index, item) in items.enumerated() {
                guard case .scalar(let text) = item else {
                    throw error(at: "\(childPath(key))[\(index)]", "must be a string, not \(Self.describe(item))")
                }
                texts.append(text)
            }
            return texts
        case let other?:
            throw error(at: childPath(key), "must be a list, not \(Self.describe(other))",
                        fix: "write `\(key): [ item, ... ]`")
        }
    }

    /// One of a fixed set of words (`encoding: proto`), suggesting the closest on a typo.
    public func choice(_ key: String, among choices: [String]) throws(ConfigurationError) -> String? {
        guard let text = try string(key) else { return nil }
        guard choices.contains(text) else {
            throw error(at: childPath(key), "`\(text)` is not a valid value",
                        fix: KeySuggestion.fix(for: text, candidates: choices, noun: "values"))
        }
        return text
    }

    /// A mapping of names to strings, in document order (e.g. HTTP headers); a name
    /// with no value (`X-Empty:`) maps to the empty string.
    public func stringMap(_ key: String) throws(ConfigurationError) -> [(name: String, value: String)]? {
        switch self[key] {
        case nil: return nil
        case .null?: return []
        case .mapping(let entries)?:
            var pairs: [(name: String, value: String)] = []
            for entry in entries {
                switch entry.value {
                case .scalar(let text): pairs.append((entry.key, text))
                case .null: pairs.append((entry.key, ""))
                case let other:
                    throw error(at: "\(childPath(key)).\(entry.key)", "must be a string, not \(Self.describe(other))",
                                fix: "write `\(entry.key): <a string>`")
                }
            }
            return pairs
        case let other?:
            throw error(at: childPath(key), "must be a mapping of names to values, not \(Self.describe(other))",
                        fix: "write `\(key): { name: value, ... }`")
        }
    }

    /// A reader of the nested mapping under `key` (empty when the key is absent).
    public func mapping(_ key: String) throws(ConfigurationError) -> ConfigMappingReader {
        try ConfigMappingReader(self[key], path: childPath(key), locations: locations)
    }
}
