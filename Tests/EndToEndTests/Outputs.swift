import Foundation

/// The data points of an OTLP JSON lines file (what --metrics-out writes), summed by
/// metric, resource, attributes and window: a form in which two exports of the same
/// samples compare equal however they were batched into lines.
struct MetricPoints: Equatable, CustomStringConvertible {
    struct Key: Hashable, Comparable, CustomStringConvertible {
        var metric: String
        var resource: [String: String]
        var attributes: [String: String]
        var startTimeUnixNano: String

        var description: String {
            "\(metric) \(Self.render(attributes)) resource \(Self.render(resource)) from \(startTimeUnixNano)"
        }

        static func render(_ attributes: [String: String]) -> String {
            "{" + attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
        }

        static func < (left: Key, right: Key) -> Bool { left.description < right.description }
    }

    var values: [Key: Int64] = [:]

    init(file: URL) throws {
        let text = try String(contentsOf: file, encoding: .utf8)
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw EndToEndFailure("\(file.path):\(number + 1) is not a JSON object")
            }
            try add(object, file: file, line: number + 1)
        }
    }

    private mutating func add(_ document: [String: Any], file: URL, line: Int) throws {
        for resourceMetrics in document["resourceMetrics"] as? [[String: Any]] ?? [] {
            let resource = Self.attributes((resourceMetrics["resource"] as? [String: Any])?["attributes"])
            for scopeMetrics in resourceMetrics["scopeMetrics"] as? [[String: Any]] ?? [] {
                for metric in scopeMetrics["metrics"] as? [[String: Any]] ?? [] {
                    guard let name = metric["name"] as? String else {
                        throw EndToEndFailure("\(file.path):\(line): a metric without a name")
                    }
                    let data = (metric["sum"] ?? metric["gauge"]) as? [String: Any]
                    for point in data?["dataPoints"] as? [[String: Any]] ?? [] {
                        guard let text = point["asInt"] as? String, let value = Int64(text) else {
                            throw EndToEndFailure("\(file.path):\(line): \(name) has a data point without asInt")
                        }
                        let key = Key(metric: name, resource: resource, attributes: Self.attributes(point["attributes"]),
                                      startTimeUnixNano: point["startTimeUnixNano"] as? String ?? "")
                        values[key, default: 0] += value
                    }
                }
            }
        }
    }

    /// OTLP `[{key, value: {stringValue | intValue | ...}}]` as text by key.
    private static func attributes(_ list: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in list as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any],
                  let first = value.first else { continue }
            result[key] = "\(first.value)"
        }
        return result
    }

    /// Sum of `metric` over the points of process `pid`, by the attributes `group` picks.
    func sum(_ metric: String, pid: Int32, by group: ([String: String]) -> String) -> [String: Int64] {
        var result: [String: Int64] = [:]
        for (key, value) in values where key.metric == metric && key.resource["process.pid"] == "\(pid)" {
            result[group(key.attributes), default: 0] += value
        }
        return result
    }

    var description: String {
        values.keys.sorted().map { "\($0) = \(values[$0]!)" }.joined(separator: "\n")
    }
}

/// Folded stacks (`process;outermost;...;leaf count`), as the aggregator writes them.
struct FoldedStacks {
    var stacks: [(frames: [String], count: Int)] = []

    init(file: URL) throws {
        let text = try String(contentsOf: file, encoding: .utf8)
        for line in text.split(separator: "\n") {
            guard let space = line.lastIndex(of: " "), let count = Int(line[line.index(after: space)...]) else {
                throw EndToEndFailure("\(file.path): not a folded line: \(line)")
            }
            stacks.append((line[..<space].split(separator: ";").map(String.init), count))
        }
    }

    /// The stacks of the process named `comm` (the first folded segment).
    func process(_ comm: String) -> [(frames: [String], count: Int)] {
        stacks.filter { $0.frames.first == comm }
    }
}
