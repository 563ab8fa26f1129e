import Foundation
import Yams

/// A position in the YAML text: 1-based line and column (in Unicode scalars).
public struct ConfigLocation: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// A parsed configuration file: the tree, plus where each key and value sits in
/// the text so that errors found later can point at a line.
///
/// Paths are dotted keys from the root, with `[i]` for sequence items:
/// `service.pipelines.metrics.exporters[0]`.
public struct ConfigDocument: Sendable {
    /// The document's root (`.null` for an empty document).
    public var root: ConfigNode
    /// The location of each key (for mapping entries) or value (for sequence items), by path.
    public var locations: [String: ConfigLocation]

    public init(root: ConfigNode, locations: [String: ConfigLocation] = [:]) {
        self.root = root
        self.locations = locations
    }

    /// Parses YAML text (Yams / LibYAML), keeping mapping order.
    ///
    /// - Throws: `ConfigurationError` naming the line and column of a syntax
    ///   error, or the path of a duplicated or non-scalar key.
    public init(yaml: String) throws {
        let composed: Yams.Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigurationError(yamlError: error)
        }
        var locations: [String: ConfigLocation] = [:]
        root = try composed.map { try Self.convert($0, path: "", locations: &locations) } ?? .null
        self.locations = locations
    }

    /// Reads and parses the YAML file at `path`.
    ///
    /// - Throws: `ConfigurationError` when the file cannot be read (with the
    ///   operating system's reason) or does not parse.
    public init(contentsOfFile path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedDescription
            throw ConfigurationError(path: "", problem: "cannot read configuration file \(path): \(reason)",
                                     fix: "check the path given to --config and that the aggregator's user may read it")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(path: "", problem: "configuration file \(path) is not valid UTF-8",
                                     fix: "save the file as UTF-8")
        }
        do {
            try self.init(yaml: text)
        } catch var error as ConfigurationError {
            error.problem = "\(path): \(error.problem)"
            throw error
        }
    }

    /// The node at a dotted path, if present (keys containing dots are not addressable this way).
    public func location(of path: String) -> ConfigLocation? {
        locations[path]
    }

    private static func convert(_ node: Yams.Node, path: String,
                                locations: inout [String: ConfigLocation]) throws -> ConfigNode {
        switch node {
        case .scalar(let scalar):
            // Only plain scalars resolve to null (`~`, `null`, empty); `""` stays a string.
            if node.null != nil { return .null }
            return .scalar(scalar.string)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            items.reserveCapacity(sequence.count)
            for (index, item) in sequence.enumerated() {
                let itemPath = "\(path)[\(index)]"
                if let mark = item.mark { locations[itemPath] = ConfigLocation(line: mark.line, column: mark.column) }
                items.append(try convert(item, path: itemPath, locations: &locations))
            }
            return .sequence(items)
        case .mapping(let mapping):
            var entries: [ConfigEntry] = []
            entries.reserveCapacity(mapping.count)
            var seen: Set<String> = []
            for (keyNode, valueNode) in mapping {
                let keyLocation = keyNode.mark.map { ConfigLocation(line: $0.line, column: $0.column) }
                guard case .scalar(let keyScalar) = keyNode else {
                    throw ConfigurationError(path: path, problem: "a mapping key is not a plain string",
                                             fix: "use `key: value` with a string key",
                                             line: keyLocation?.line, column: keyLocation?.column)
                }
                let key = keyScalar.string
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                guard seen.insert(key).inserted else {
                    throw ConfigurationError(path: childPath, problem: "key `\(key)` appears twice in the same mapping",
                                             fix: "keep one of them", line: keyLocation?.line,
                                             column: keyLocation?.column)
                }
                if let keyLocation { locations[childPath] = keyLocation }
                entries.append(ConfigEntry(key: key, value: try convert(valueNode, path: childPath,
                                                                        locations: &locations)))
            }
            return .mapping(entries)
        case .alias:
            // `compose` resolves aliases; an unresolved one cannot be used.
            throw ConfigurationError(path: path, problem: "unresolved YAML alias", fix: "define the anchor before its use")
        }
    }
}

extension ConfigurationError {
    /// Converts a Yams (LibYAML) error into a configuration error with its position.
    init(yamlError: YamlError) {
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            var text = "YAML syntax error: \(problem)"
            if let context { text += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))" }
            self.init(path: "", problem: text, fix: "fix the YAML at line \(mark.line), column \(mark.column)",
                      line: mark.line, column: mark.column)
        case .reader(let problem, let offset, _, _):
            self.init(path: "", problem: "YAML cannot be read: \(problem)" + (offset.map { " at character \($0)" } ?? ""),
                      fix: "save the file as UTF-8 text")
        case .duplicatedKeysInMapping(let duplicates, let context):
            self.init(path: "", problem: "duplicated keys \(duplicates.map { "`\($0)`" }.joined(separator: ", ")) in one mapping",
                      fix: "keep one of each", line: context.mark.line, column: context.mark.column)
        default:
            self.init(path: "", problem: "YAML error: \(yamlError)")
        }
    }
}
