/// A parsed YAML value of the collector-shaped configuration, before any
/// component interprets it. Keeps mapping order so errors can point at keys.
public indirect enum ConfigNode: Hashable, Sendable {
    case null
    case scalar(String)
    case sequence([ConfigNode])
    case mapping([ConfigEntry])

    /// The value under `key` of a mapping, else `nil`.
    public subscript(_ key: String) -> ConfigNode? {
        guard case .mapping(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// The keys of a mapping, in document order; empty for other nodes.
    public var keys: [String] {
        guard case .mapping(let entries) = self else { return [] }
        return entries.map(\.key)
    }
}

/// One `key: value` pair of a YAML mapping.
public struct ConfigEntry: Hashable, Sendable {
    public var key: String
    public var value: ConfigNode

    public init(key: String, value: ConfigNode) {
        self.key = key
        self.value = value
    }
}

/// A configuration that cannot be used, with where and how to fix it.
public struct ConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Dotted path of the offending key, e.g. `connectors.profilingmetrics.by_frame`.
    public var path: String
    /// What is wrong.
    public var problem: String
    /// How to fix it (e.g. "did you mean `by_frametype`?"), if known.
    public var fix: String?
    /// 1-based line of the offending key or value in the YAML text, when known.
    public var line: Int?
    /// 1-based column (in Unicode scalars) of the offending key or value, when known.
    public var column: Int?

    public init(path: String, problem: String, fix: String? = nil, line: Int? = nil, column: Int? = nil) {
        self.path = path
        self.problem = problem
        self.fix = fix
        self.line = line
        self.column = column
    }

    public var description: String {
        var text = path.isEmpty ? "configuration error" : "configuration error at `\(path)`"
        if let line {
            text += column.map { " (line \(line), column \($0))" } ?? " (line \(line))"
        }
        text += ": \(problem)"
        if let fix { text += "; \(fix)" }
        return text
    }
}
