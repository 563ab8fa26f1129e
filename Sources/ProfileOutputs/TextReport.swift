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
        /// What the rows count: samples, or off-CPU time.
        public var unit: ProfileWeightUnit = .samples
    }

    public static let otherFunctionsLabel = "(other leaf functions)"
    public static let noFramesLabel = "(no frames)"
    public static let noKernelClassLabel = "(no kernel class)"
    /// Kernel-leaf samples whose kernel frames matched no class.
    public static let unclassifiedKernelLabel = "(unclassified kernel)"
    public static let otherWaitFunctionsLabel = "(other functions)"
    /// Off-CPU samples of threads with no user-space frame (kernel threads).
    public static let noUserFramesLabel = "(no user frames)"
    /// Off-CPU samples whose kernel stack has no scheduler frame to look below.
    public static let noSchedulerFrameLabel = "(no scheduler frame)"

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
        var accounted = top.saturatingSum(\.count)
        accounted.saturatingAdd(aggregate.samplesWithoutFrames)
        let otherFunctions = total - min(total, accounted)
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

    /// "Where threads wait": the time of the off-CPU samples by the user-space function
    /// that waited (the innermost user frame) and by the kernel function that called the
    /// scheduler (`KernelWaitFunction`), most time first; empty without off-CPU samples.
    public func waitSections(_ offCPU: ProfileAggregate) -> [Section] {
        let total = offCPU.totalSamples
        guard total > 0 else { return [] }
        var byUserFunction: [String: Int64] = [:]
        var byKernelFunction: [String: Int64] = [:]
        for entry in offCPU.entries {
            let user = entry.frames.first { $0.type != .kernel }
            byUserFunction[user?.functionLabel ?? Self.noUserFramesLabel, default: 0].saturatingAdd(entry.count)
            let kernel = KernelWaitFunction.name(in: entry.frames) ?? Self.noSchedulerFrameLabel
            byKernelFunction[kernel, default: 0].saturatingAdd(entry.count)
        }
        func rows(_ times: [String: Int64]) -> [Row] {
            let sorted = times.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            var rows = sorted.prefix(topCount).map {
                Row(label: $0.key, type: nil, count: $0.value, share: Double($0.value) / Double(total))
            }
            let rest = sorted.dropFirst(topCount).saturatingSum(\.value)
            if rest > 0 {
                rows.append(Row(label: Self.otherWaitFunctionsLabel, type: nil, count: rest,
                                share: Double(rest) / Double(total)))
            }
            return rows
        }
        return [
            Section(title: "Where threads wait: top \(topCount) user functions by time off the CPU",
                    labelHeading: "function", rows: rows(byUserFunction), unit: .nanoseconds),
            Section(title: "Where threads wait: top \(topCount) kernel functions that called the scheduler",
                    labelHeading: "kernel function", rows: rows(byKernelFunction), unit: .nanoseconds),
        ]
    }

    /// The report as lines of text, each ending in a newline; with `offCPU` samples, the
    /// "where threads wait" sections follow the on-CPU ones.
    public func render(_ aggregate: ProfileAggregate, kernelSamples: [KernelStackClassification: Int64] = [:],
                       offCPU: ProfileAggregate? = nil) -> String {
        var text = "Samples: \(aggregate.totalSamples)"
        if aggregate.droppedSamples > 0 {
            text += " (plus \(aggregate.droppedSamples) dropped: more than \(aggregate.maximumDistinctStacks) distinct stacks)"
        }
        text += "\n"
        var sections = sections(aggregate, kernelSamples: kernelSamples)
        if let offCPU, offCPU.totalSamples > 0 {
            text += "Off-CPU: \(ProfileWeightUnit.nanoseconds.describe(offCPU.totalSamples)) waited in \(offCPU.totalEvents) samples"
            if offCPU.droppedSamples > 0 {
                text += " (plus \(ProfileWeightUnit.nanoseconds.describe(offCPU.droppedSamples)) dropped: more than \(offCPU.maximumDistinctStacks) distinct stacks)"
            }
            text += "\n"
            sections += waitSections(offCPU)
        }
        for section in sections {
            text += "\n\(section.title):\n"
            let showsType = section.rows.contains { $0.type != nil && $0.label != $0.type?.rawValue }
            let header = ["share", section.unit.columnHeading] + (showsType ? ["type"] : []) + [section.labelHeading]
            let cells = section.rows.map { row in
                ["\(formatShare(row.share * 100))%", section.unit.number(row.count)]
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
