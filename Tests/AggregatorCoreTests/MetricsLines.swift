import Foundation

/// The data points of OTLP JSON lines, summed by metric name and attributes.
struct MetricsLines {
    /// "name{key=value,...}" -> summed value
    var sums: [String: Int64] = [:]
    var resourceAttributes: [[String: String]] = []
    var lines = 0

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for line in text.split(separator: "\n") {
            lines += 1
            let request = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            for resource in request["resourceMetrics"] as? [[String: Any]] ?? [] {
                let attributes = (resource["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
                resourceAttributes.append(Self.flatten(attributes))
                for scope in resource["scopeMetrics"] as? [[String: Any]] ?? [] {
                    for metric in scope["metrics"] as? [[String: Any]] ?? [] {
                        let name = metric["name"] as? String ?? "?"
                        let data = (metric["sum"] ?? metric["gauge"]) as? [String: Any] ?? [:]
                        for point in data["dataPoints"] as? [[String: Any]] ?? [] {
                            let labels = Self.flatten(point["attributes"] as? [[String: Any]] ?? [])
                                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                            let value = Int64(point["asInt"] as? String ?? "0") ?? 0
                            sums["\(name){\(labels)}", default: 0] += value
                        }
                    }
                }
            }
        }
    }

    static func flatten(_ attributes: [[String: Any]]) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in attributes {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else { continue }
            result[key] = (value["stringValue"] as? String) ?? (value["intValue"] as? String) ?? "\(value)"
        }
        return result
    }

    /// The sum over every attribute set of `name`.
    func total(_ name: String) -> Int64 {
        sums.filter { $0.key.hasPrefix(name + "{") }.values.reduce(0, +)
    }
}
