import Foundation
import SystemCalls
import Yams
#if canImport(Glibc)
import Glibc
#endif

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
///
/// Values are expanded as the Collector expands them: `${env:NAME}` (or
/// `${NAME}`) becomes the environment variable, `${env:NAME:-default}` the
/// default when it is unset or empty, and `$$` a literal `$`. An unset variable
/// without a default becomes the empty string, with a warning.
public struct ConfigDocument: Sendable {
    /// The document's root (`.null` for an empty document).
    public var root: ConfigNode
    /// The location of each key (for mapping entries) or value (for sequence items), by path.
    public var locations: [String: ConfigLocation]
    /// Things worth a log line (unset environment variables).
    public var warnings: [String] = []

    public init(root: ConfigNode, locations: [String: ConfigLocation] = [:]) {
        self.root = root
        self.locations = locations
    }

    /// Largest configuration read, in bytes (the sampler reads at most 16 MiB of the same file).
    public static let maximumBytes = 1 << 20
    /// Most nodes (keys, values, items) of the document once YAML aliases are expanded.
    /// Aliases are allowed (the Collector's YAML parser takes them), but each `*name`
    /// repeats its anchor's whole subtree: nine nested levels of ten aliases ("billion
    /// laughs") would be 10^9 nodes from a few hundred bytes.
    public static let maximumNodes = 100_000
    /// Most bytes of keys, values and key paths of the expanded document (the same bound
    /// for large scalars repeated through aliases).
    public static let maximumExpandedBytes = 16 << 20

    /// Parses YAML text (Yams / LibYAML), keeping mapping order.
    ///
    /// - Parameter environment: the variables `${env:NAME}` reads (the process's by default).
    /// - Throws: `ConfigurationError` naming the line and column of a syntax
    ///   error, or the path of a duplicated or non-scalar key, or of a
    ///   malformed `${...}` reference.
    public init(yaml: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard yaml.utf8.count <= Self.maximumBytes else {
            throw ConfigurationError(path: "", problem: "the configuration is \(yaml.utf8.count) bytes; at most \(Self.maximumBytes) are read",
                                     fix: "a Collector configuration is a few KiB: remove what is not configuration")
        }
        let composed: Yams.Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigurationError(yamlError: error)
        }
        var converter = Converter(environment: environment)
        root = try composed.map { try converter.convert($0, path: "") } ?? .null
        locations = converter.locations
        warnings = converter.warnings
    }

    /// Reads and parses the YAML file at `path`.
    ///
    /// - Throws: `ConfigurationError` when the file cannot be read (with the
    ///   operating system's reason) or does not parse.
    public init(contentsOfFile path: String,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let bytes = try Self.readFile(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigurationError(path: "", problem: "configuration file \(path) is not valid UTF-8",
                                     fix: "save the file as UTF-8")
        }
        do {
            try self.init(yaml: text, environment: environment)
        } catch var error as ConfigurationError {
            error.problem = "\(path): \(error.problem)"
            throw error
        }
    }

    /// The bytes of the configuration file at `path`: opened without blocking
    /// (`open(O_RDONLY | O_NONBLOCK | O_NOCTTY)`, close-on-exec: a FIFO put there does not
    /// hang the aggregator), checked with `fstat` to be a regular file of at most
    /// ``maximumBytes``, then read with `read` up to that bound.
    static func readFile(_ path: String) throws -> [UInt8] {
        let fix = "check the path given to --config and that the aggregator's user may read it"
        func failure(_ error: SystemCallError) -> ConfigurationError {
            ConfigurationError(path: "", problem: "cannot read configuration file \(path): \(error)", fix: fix)
        }
        let descriptor = try { () throws(ConfigurationError) in
            do throws(SystemCallError) { return try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY) } catch { throw failure(error) }
        }()
        let status: stat
        do throws(SystemCallError) { status = try descriptor.status() } catch { throw failure(error) }
        guard FileType(mode: status.st_mode) == .regular else {
            throw ConfigurationError(path: "", problem: "configuration file \(path) is not a regular file",
                                     fix: "give --config a YAML file (not a directory, FIFO or device)")
        }
        let tooLarge = ConfigurationError(path: "", problem: "configuration file \(path) is larger than \(maximumBytes) bytes",
                                          fix: "a Collector configuration is a few KiB: check that --config names the right file")
        guard status.st_size <= maximumBytes else { throw tooLarge }
        // Room for one byte past the bound, in case the file grew after fstat.
        var bytes = [UInt8](repeating: 0, count: maximumBytes + 1)
        var filled = 0
        while filled < bytes.count {
            let count: Int
            do {
                count = try bytes.withUnsafeMutableBytes { try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            } catch let error as SystemCallError {
                throw failure(error)
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= maximumBytes else { throw tooLarge }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// The node at a dotted path, if present (keys containing dots are not addressable this way).
    public func location(of path: String) -> ConfigLocation? {
        locations[path]
    }

    /// Turns Yams nodes into `ConfigNode`s, recording positions and expanding variables.
    private struct Converter {
        let environment: [String: String]
        var locations: [String: ConfigLocation] = [:]
        var warnings: [String] = []
        /// Nodes and bytes (keys, values, paths) made so far, against the expansion bounds.
        var nodes = 0
        var bytes = 0

        /// Charges one node and `count` bytes; throws past ``maximumNodes`` or ``maximumExpandedBytes``.
        mutating func charge(_ count: Int, path: String) throws {
            nodes += 1
            bytes += count
            guard nodes <= ConfigDocument.maximumNodes, bytes <= ConfigDocument.maximumExpandedBytes else {
                throw ConfigurationError(
                    path: path,
                    problem: "the configuration expands to more than \(ConfigDocument.maximumNodes) nodes or \(ConfigDocument.maximumExpandedBytes) bytes (each YAML alias `*name` repeats its anchor's whole content: an alias bomb?)",
                    fix: "use fewer or smaller aliases, or write the settings out")
            }
        }

        mutating func convert(_ node: Yams.Node, path: String) throws -> ConfigNode {
            try charge(path.utf8.count, path: path)
            switch node {
            case .scalar(let scalar):
                // Only plain scalars resolve to null (`~`, `null`, empty); `""` stays a string.
                if node.null != nil { return .null }
                let value = try expand(scalar.string, path: path,
                                       location: scalar.mark.map { ConfigLocation(line: $0.line, column: $0.column) })
                bytes += value.utf8.count
                return .scalar(value)
            case .sequence(let sequence):
                var items: [ConfigNode] = []
                items.reserveCapacity(sequence.count)
                for (index, item) in sequence.enumerated() {
                    let itemPath = "\(path)[\(index)]"
                    if let mark = item.mark { locations[itemPath] = ConfigLocation(line: mark.line, column: mark.column) }
                    items.append(try convert(item, path: itemPath))
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
                    entries.append(ConfigEntry(key: key, value: try convert(valueNode, path: childPath)))
                }
                return .mapping(entries)
            case .alias:
                // `compose` resolves aliases; an unresolved one cannot be used.
                throw ConfigurationError(path: path, problem: "unresolved YAML alias", fix: "define the anchor before its use")
            }
        }

        /// Expands `${env:NAME}`, `${NAME}`, `${env:NAME:-default}` and `$$` in a value.
        mutating func expand(_ text: String, path: String, location: ConfigLocation?) throws -> String {
            guard text.contains("$") else { return text }
            var result = ""
            var rest = Substring(text)
            while let dollar = rest.firstIndex(of: "$") {
                result += rest[..<dollar]
                let after = rest.index(after: dollar)
                if after < rest.endIndex, rest[after] == "$" {
                    result += "$"
                    rest = rest[rest.index(after: after)...]
                    continue
                }
                guard after < rest.endIndex, rest[after] == "{" else {
                    result += "$"
                    rest = rest[after...]
                    continue
                }
                guard let close = rest[after...].firstIndex(of: "}") else {
                    throw ConfigurationError(path: path, problem: "`${` without a closing `}` in `\(text)`",
                                             fix: "write `${env:NAME}`, or `$$` for a literal `$`",
                                             line: location?.line, column: location?.column)
                }
                var reference = rest[rest.index(after: after)..<close]
                if reference.hasPrefix("env:") {
                    reference = reference.dropFirst(4)
                } else if let colon = reference.firstIndex(of: ":"),
                          !reference[..<colon].isEmpty, reference[..<colon].allSatisfy({ $0.isLetter }) {
                    throw ConfigurationError(path: path,
                                             problem: "`${\(reference)}` uses the `\(reference[..<colon])` provider, which tandem does not have",
                                             fix: "use `${env:NAME}`", line: location?.line, column: location?.column)
                }
                var name = reference
                var fallback: Substring?
                if let range = reference.firstRange(of: ":-") {
                    name = reference[..<range.lowerBound]
                    fallback = reference[range.upperBound...]
                }
                guard !name.isEmpty, name.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
                    throw ConfigurationError(path: path, problem: "`${\(reference)}` is not a valid variable reference",
                                             fix: "write `${env:NAME}` with letters, digits and `_`",
                                             line: location?.line, column: location?.column)
                }
                if let value = environment[String(name)], !value.isEmpty {
                    result += value
                } else if let fallback {
                    result += fallback
                } else {
                    warnings.append("\(path): environment variable \(name) is not set; using an empty value")
                }
                rest = rest[rest.index(after: close)...]
            }
            result += rest
            return result
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

extension ConfigNode {
    /// Parses YAML text into a tree (see `ConfigDocument` for positions).
    ///
    /// - Throws: `ConfigurationError` with the line and column of a syntax error.
    public init(yaml: String) throws {
        self = try ConfigDocument(yaml: yaml).root
    }
}
