import Profiles

/// Writes a profile in Brendan Gregg's folded-stack format, the input of
/// `flamegraph.pl`, speedscope and inferno: one line per distinct stack,
/// `process;outermost;...;leaf count`, root first. Frames are named by
/// `Frame.locationLabel`: an interpreted frame with its file and line.
public struct FoldedStacksWriter: Sendable {
    public var style: StackPathStyle
    /// Append `_[k]` to kernel frames, the mark `flamegraph.pl --color=java`
    /// and inferno colour kernel frames by.
    public var annotatesKernelFrames: Bool

    public init(style: StackPathStyle = StackPathStyle(), annotatesKernelFrames: Bool = false) {
        self.style = style
        self.annotatesKernelFrames = annotatesKernelFrames
    }

    /// The lines, without line terminators, sorted by their UTF-8 bytes (as
    /// `LC_ALL=C sort` does) so that equal profiles give equal files.
    public func lines(for aggregate: ProfileAggregate) -> [String] {
        var counts: [String: Int64] = [:]
        for (path, count) in aggregate.rootFirstPaths(style: style) {
            let stack = path.map { segment in
                let name = Self.sanitized(segment.name)
                return annotatesKernelFrames && segment.kind == .frame(.kernel) ? name + "_[k]" : name
            }.joined(separator: ";")
            counts[stack, default: 0].saturatingAdd(count)
        }
        return counts
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "\($0.key) \($0.value)" }
    }

    /// The whole file: every line followed by a newline.
    public func render(_ aggregate: ProfileAggregate) -> String {
        lines(for: aggregate).map { $0 + "\n" }.joined()
    }

    /// Writes `render(aggregate)` to `path`, replacing the file atomically.
    public func write(_ aggregate: ProfileAggregate, toFile path: String) throws(ProfileOutputError) {
        try OutputFile.replaceContents(ofFile: path, with: Array(render(aggregate).utf8))
    }

    /// A name that cannot break the format: `;` separates frames and a line
    /// ends the record, so both are replaced (`;` by `:`, line breaks by spaces).
    static func sanitized(_ name: String) -> String {
        guard name.contains(where: { $0 == ";" || $0.isNewline }) else { return name }
        return String(name.map { $0 == ";" ? ":" : ($0.isNewline ? " " : $0) })
    }
}
