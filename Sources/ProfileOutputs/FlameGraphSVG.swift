import Profiles

/// Draws a profile as a static flame graph in one self-contained SVG file
/// (no script, no external resource): the root at the bottom, each frame
/// above its caller, widths proportional to sample counts, siblings sorted
/// by name as `flamegraph.pl` does, colours by frame type with a legend, and
/// a `<title>` tooltip (name, type, source path of an interpreted frame, samples,
/// share) on every frame.
public struct FlameGraphSVG: Sendable {
    public var title: String
    /// A line under the title (host, time range, ...); the total (samples or time) is always shown.
    public var subtitle: String?
    /// Image width in pixels.
    public var width: Int
    /// Height of one frame row in pixels.
    public var frameHeight: Int
    /// Frames narrower than this many pixels (and everything above them) are
    /// not drawn; the header says how many samples that leaves out of view.
    public var minimumFrameWidth: Double
    public var style: StackPathStyle
    /// What the widths measure, as the caption and tooltips say it: samples, or the
    /// time waited of an off-CPU profile.
    public var unit: ProfileWeightUnit

    public init(title: String = "Flame Graph", subtitle: String? = nil, width: Int = 1200,
                frameHeight: Int = 16, minimumFrameWidth: Double = 0.1,
                style: StackPathStyle = StackPathStyle(), unit: ProfileWeightUnit = .samples) {
        self.unit = unit
        self.title = title
        self.subtitle = subtitle
        self.width = width
        self.frameHeight = frameHeight
        self.minimumFrameWidth = minimumFrameWidth
        self.style = style
    }

    /// The name of the bottom frame, which spans every sample.
    public static let rootName = "all"

    private static let fontSize = 12.0
    /// Average glyph width of Verdana at `fontSize`, relative to the size
    /// (the estimate flamegraph.pl uses too).
    private static let glyphWidthRatio = 0.59
    private static let sidePadding = 10.0
    private static let headerHeight = 84.0
    private static let footerHeight = 10.0

    /// The SVG document.
    public func render(_ aggregate: ProfileAggregate) -> String {
        let tree = FrameTree(aggregate: aggregate, style: style)
        let total = tree.nodes[0].count
        let plotWidth = Double(width) - 2 * Self.sidePadding
        let scale = total > 0 ? plotWidth / Double(total) : 0
        let rowHeight = Double(frameHeight)

        // Lay out first: what is drawn decides the height and the legend.
        var placed: [(node: Int, x: Double, width: Double, depth: Int)] = []
        var hiddenSamples: Int64 = 0
        var pending: [(node: Int, x: Double, depth: Int)] = [(0, Self.sidePadding, 0)]
        while let (index, x, depth) = pending.popLast() {
            let node = tree.nodes[index]
            let frameWidth = Double(node.count) * scale
            guard frameWidth >= minimumFrameWidth, total > 0 else {
                hiddenSamples.saturatingAdd(node.count)
                continue
            }
            placed.append((index, x, frameWidth, depth))
            var childX = x
            for child in tree.sortedChildren(of: index) {
                pending.append((child, childX, depth + 1))
                childX += Double(tree.nodes[child].count) * scale
            }
        }
        let maximumDepth = placed.map(\.depth).max() ?? 0
        let height = Self.headerHeight + Double(maximumDepth + 1) * rowHeight + Self.footerHeight

        var svg = """
        <?xml version="1.0" encoding="UTF-8" standalone="no"?>
        <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(width)" height="\(format(height))" \
        viewBox="0 0 \(width) \(format(height))">
        <style>
        text { font-family: Verdana, "DejaVu Sans", sans-serif; font-size: \(format(Self.fontSize))px; fill: #000; }
        text.heading { font-size: 17px; }
        text.caption { fill: #444; }
        g.frame:hover rect { stroke: #000; stroke-width: 0.5; }
        </style>
        <rect x="0" y="0" width="\(width)" height="\(format(height))" fill="#f8f8f2"/>
        <text class="heading" x="\(format(Double(width) / 2))" y="24" text-anchor="middle">\(escaped(title))</text>

        """
        var caption = unit.describe(total)
        if hiddenSamples > 0 {
            caption += "; frames narrower than \(format(minimumFrameWidth)) px not drawn (\(unit.describe(hiddenSamples)))"
        }
        if let subtitle { caption = "\(subtitle) · \(caption)" }
        svg += "<text class=\"caption\" x=\"\(format(Double(width) / 2))\" y=\"44\" text-anchor=\"middle\">\(escaped(caption))</text>\n"

        // The legend: the colour of each kind of frame drawn.
        var kindsDrawn = Set(placed.map { tree.nodes[$0.node].kind.legendName })
        kindsDrawn.remove(FrameTree.Kind.root.legendName)
        var legendX = Self.sidePadding
        for kind in FrameTree.Kind.legendOrder where kindsDrawn.contains(kind.legendName) {
            svg += "<rect x=\"\(format(legendX))\" y=\"58\" width=\"12\" height=\"12\" fill=\"\(kind.color(for: ""))\"/>"
            svg += "<text x=\"\(format(legendX + 16))\" y=\"68.5\">\(escaped(kind.legendName))</text>\n"
            legendX += 16 + Double(kind.legendName.count) * Self.fontSize * Self.glyphWidthRatio + 14
        }

        let bottom = height - Self.footerHeight
        for (index, x, frameWidth, depth) in placed.sorted(by: { ($0.depth, $0.x) < ($1.depth, $1.x) }) {
            let node = tree.nodes[index]
            let y = bottom - Double(depth + 1) * rowHeight
            let share = total > 0 ? 100 * Double(node.count) / Double(total) : 0
            // The type, and for an interpreted frame the whole path its label shortens.
            let note = [node.kind.legendName, node.sourceFile ?? ""].filter { !$0.isEmpty }.joined(separator: ", ")
            let typeNote = note.isEmpty ? "" : " (\(note))"
            let tooltip = "\(node.name)\(typeNote): \(unit.describe(node.count)), \(formatShare(share))%"
            svg += "<g class=\"frame\"><title>\(escaped(tooltip))</title>"
            svg += "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(frameWidth))\" "
            svg += "height=\"\(format(rowHeight - 1))\" rx=\"2\" fill=\"\(node.kind.color(for: node.name))\"/>"
            if let label = fittedLabel(node.name, width: frameWidth) {
                svg += "<text x=\"\(format(x + 3))\" y=\"\(format(y + rowHeight - 4.5))\">\(escaped(label))</text>"
            }
            svg += "</g>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// Writes `render(aggregate)` to `path`, replacing the file atomically.
    public func write(_ aggregate: ProfileAggregate, toFile path: String) throws(ProfileOutputError) {
        try OutputFile.replaceContents(ofFile: path, with: Array(render(aggregate).utf8))
    }

    /// The name cut to what fits in `width` pixels, ending in `..` when cut;
    /// `nil` when not even three characters fit.
    private func fittedLabel(_ name: String, width: Double) -> String? {
        let fitting = Int((width - 6) / (Self.fontSize * Self.glyphWidthRatio))
        guard fitting >= 3 else { return nil }
        if name.count <= fitting { return name }
        return String(name.prefix(fitting - 2)) + ".."
    }
}

/// Two decimals at most, no trailing zeros: coordinates stay short and exact
/// to 0.01 px. Every value drawn is non-negative.
private func format(_ value: Double) -> String {
    let hundredths = Int64((max(0, value) * 100).rounded())
    let fraction = hundredths % 100
    if fraction == 0 { return "\(hundredths / 100)" }
    let digits = fraction % 10 == 0 ? "\(fraction / 10)" : (fraction < 10 ? "0\(fraction)" : "\(fraction)")
    return "\(hundredths / 100).\(digits)"
}

/// "1 sample", "2 samples".
func samplesText(_ count: Int64) -> String {
    count == 1 ? "1 sample" : "\(count) samples"
}

/// A share in percent with two decimals, always.
func formatShare(_ percent: Double) -> String {
    let hundredths = Int64((percent * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// Text safe inside XML elements and attribute values.
func escaped(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        // XML 1.0 forbids most control characters even as references.
        case "\u{0}"..."\u{8}", "\u{B}", "\u{C}", "\u{E}"..."\u{1F}": result += "\u{FFFD}"
        default: result.unicodeScalars.append(character)
        }
    }
    return result
}
