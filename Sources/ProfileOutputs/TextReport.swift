import Profiles

/// The plain-text summary of a profile that the run command prints: the top
/// leaf functions, samples by leaf frame type and samples by kernel class,
/// each an aligned table whose rows account for every sample (a remainder
/// row holds what the listed rows leave out).
public struct TextReport: Sendable {
    /// How many leaf functions to list before the remainder row.
    public var topCount: Int

    public init(topCount: Int = 10) {
        self.topCount = topCount
    }

    /// One line of a table.
    public struct Row: Hashable, Sendable {
        /// What is counted: a function, a frame type, a kernel class, or a
        /// parenthesized remainder such as `(other leaf functions)`.
        public var label: String
        /// The frame type, for function rows.
        public var type: FrameType?
        public var count: Int64
        /// `count` over the profile's counted samples, in 0...1.
        public var share: Double
    }

    public struct Section: Hashable, Sendable {
        public var title: String
        /// The heading of the label column: `function`, `frame type` or `kernel class`.
        public var labelHeading: String
        /// Most samples first; remainder rows last.
        public var rows: [Row]
    }

    public static let otherFunctionsLabel = "(other leaf functions)"
    public static let noFramesLabel = "(no frames)"
    public static let noKernelClassLabel = "(no kernel class)"
    /// Kernel-leaf samples whose kernel frames matched no class.
    public static let unclassifiedKernelLabel = "(unclassified kernel)"

    /// A kernel class row's label: the class string of the reference (`network/tcp/read`,
    /// `ipc//read`, `memory`), with the system call it serves, e.g. `ipc//read (read)`.
    public static func label(of classification: KernelStackClassification) -> String {
        let label = classification.kernelClass ?? unclassifiedKernelLabel
        return classification.syscallName.map { "\(label) (\($0))" } ?? label
    }

    /// The tables, for callers that format them their own way.
    ///
    /// - Parameter kernelSamples: the `samples.kernel.count` values of the metrics of
    ///   the same samples, by the classification of their kernel frames (the metrics
    ///   connector's own, typed); the samples they leave out make the remainder row.
    ///   An empty map leaves the section out.
    public func sections(_ aggregate: ProfileAggregate,
                         kernelSamples: [KernelStackClassification: Int64] = [:]) -> [Section] {
        let total = aggregate.totalSamples
        func row(_ label: String, _ type: FrameType?, _ count: Int64) -> Row {
            Row(label: label, type: type, count: count, share: total > 0 ? Double(count) / Double(total) : 0)
        }

        let top = aggregate.topLeafFunctions(limit: topCount)
        var functionRows = top.map { row($0.name, $0.type, $0.count) }
        let otherFunctions = total - aggregate.samplesWithoutFrames - top.reduce(0) { $0 + $1.count }
        if otherFunctions > 0 { functionRows.append(row(Self.otherFunctionsLabel, nil, otherFunctions)) }
        if aggregate.samplesWithoutFrames > 0 {
            functionRows.append(row(Self.noFramesLabel, nil, aggregate.samplesWithoutFrames))
        }

        var typeRows = aggregate.samplesByLeafFrameType
            .sorted { ($0.value, $1.key.rawValue) > ($1.value, $0.key.rawValue) }
            .map { row($0.key.rawValue, $0.key, $0.value) }
        if aggregate.samplesWithoutFrames > 0 {
            typeRows.append(row(Self.noFramesLabel, nil, aggregate.samplesWithoutFrames))
        }

        var sections = [
            Section(title: "Top \(topCount) leaf functions", labelHeading: "function", rows: functionRows),
            Section(title: "Samples by leaf frame type", labelHeading: "frame type", rows: typeRows),
        ]
        if !kernelSamples.isEmpty {
            var classRows = kernelSamples
                .map { (label: Self.label(of: $0.key), count: $0.value) }
                .sorted { ($0.count, $1.label) > ($1.count, $0.label) }
                .map { row($0.label, nil, $0.count) }
            let unclassified = total - kernelSamples.values.reduce(0, +)
            if unclassified > 0 { classRows.append(row(Self.noKernelClassLabel, nil, unclassified)) }
            sections.append(Section(title: "Samples by kernel class", labelHeading: "kernel class", rows: classRows))
        }
        return sections
    }

    /// The report as lines of text, each ending in a newline.
    public func render(_ aggregate: ProfileAggregate, kernelSamples: [KernelStackClassification: Int64] = [:]) -> String {
        var text = "Samples: \(aggregate.totalSamples)"
        if aggregate.droppedSamples > 0 {
            text += " (plus \(aggregate.droppedSamples) dropped: more than \(aggregate.maximumDistinctStacks) distinct stacks)"
        }
        text += "\n"
        for section in sections(aggregate, kernelSamples: kernelSamples) {
            text += "\n\(section.title):\n"
            let showsType = section.rows.contains { $0.type != nil && $0.label != $0.type?.rawValue }
            let header = ["share", "samples"] + (showsType ? ["type"] : []) + [section.labelHeading]
            let cells = section.rows.map { row in
                ["\(formatShare(row.share * 100))%", "\(row.count)"]
                    + (showsType ? [row.type?.rawValue ?? ""] : []) + [row.label]
            }
            text += table([header] + cells, rightAligned: 2)
        }
        return text
    }

    /// Columns separated by two spaces; the first `rightAligned` columns are
    /// aligned right (numbers), the others left; no trailing spaces.
    private func table(_ rows: [[String]], rightAligned: Int) -> String {
        let columnCount = rows.map(\.count).max() ?? 0
        let widths = (0..<columnCount).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            let line = row.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return column < rightAligned ? padding + cell : cell + padding
            }.joined(separator: "  ")
            return "  " + String(line.reversed().drop { $0 == " " }.reversed()) + "\n"
        }.joined()
    }
}
