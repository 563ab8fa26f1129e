import Yams

/// Reads the sampler's settings from the collector-shaped YAML configuration
/// (`receivers: profiling: SamplesPerSecond: 19`). Only the keys the sampler uses
/// are read; the rest belongs to the aggregator.
public enum ConfigurationFile {
    public struct Settings: Hashable, Sendable {
        public var samplesPerSecond: Int?
    }

    public static func settings(yaml text: String, path: String = "<config>") throws(SamplerError) -> Settings {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw .invalidConfiguration("\(path): not valid YAML: \(error)")
        }
        guard let root else { return Settings() }
        guard let profiling = root["receivers"]?["profiling"] else { return Settings() }
        var settings = Settings()
        for key in ["SamplesPerSecond", "samples_per_second"] {
            guard let node = profiling[key] else { continue }
            guard let scalar = node.scalar, let value = Int(scalar.string), value > 0 else {
                throw .invalidConfiguration("\(path): receivers.profiling.\(key) must be a positive integer, not `\(node.scalar?.string ?? "a \(node)")`")
            }
            if let earlier = settings.samplesPerSecond, earlier != value {
                throw .invalidConfiguration("\(path): receivers.profiling sets both SamplesPerSecond and samples_per_second, to different values; keep one")
            }
            settings.samplesPerSecond = value
        }
        return settings
    }

    public static func settings(path: String) throws(SamplerError) -> Settings {
        let text: String
        do {
            text = try ProcFileSystem.readText(path, limit: 16 << 20)
        } catch {
            throw .invalidConfiguration("cannot read the configuration file: \(error)")
        }
        return try settings(yaml: text, path: path)
    }
}
