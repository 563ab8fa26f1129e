import Profiles

/// The call tree of a profile, root first: the root (every sample), then
/// processes, then frames from the outermost to the leaf, merged by name.
struct FrameTree {
    enum Kind: Hashable {
        case root
        case process
        case thread
        case truncation
        case frame(FrameType)

        init(_ kind: PathSegment.Kind) {
            switch kind {
            case .process: self = .process
            case .thread: self = .thread
            case .truncation: self = .truncation
            case .frame(let type): self = .frame(type)
            }
        }

        /// The legend entries, in the order shown.
        static let legendOrder: [Kind] = [.process, .thread, .truncation] + FrameType.allCases.map { .frame($0) }

        var legendName: String {
            switch self {
            case .root: return ""
            case .process: return "process"
            case .thread: return "thread"
            case .truncation: return "truncated"
            case .frame(let type): return type.rawValue
            }
        }

        /// The hue (degrees), saturation and lightness range of the kind; each
        /// name gets a lightness and hue offset of its own within the range so
        /// that neighbours stay apart, the same on every run.
        private var palette: (hue: Double, saturation: Double, lightness: ClosedRange<Double>) {
            switch self {
            case .root: return (0, 0, 0.80...0.80)
            case .process: return (210, 0.10, 0.68...0.80)
            case .thread: return (210, 0.18, 0.74...0.84)
            case .truncation: return (0, 0, 0.88...0.88)
            case .frame(let type):
                switch type {
                case .native: return (8, 0.80, 0.55...0.68)      // flamegraph.pl's warm red
                case .kernel: return (32, 0.90, 0.52...0.64)     // orange
                case .jvm: return (110, 0.55, 0.50...0.64)       // green
                case .cpython: return (215, 0.65, 0.62...0.74)   // blue
                case .go: return (185, 0.60, 0.50...0.62)        // cyan
                case .v8js: return (62, 0.70, 0.50...0.62)       // yellow
                case .php: return (260, 0.45, 0.66...0.76)       // lavender
                case .perl: return (320, 0.55, 0.70...0.80)      // pink
                case .ruby: return (348, 0.65, 0.50...0.60)      // crimson
                case .dotnet: return (280, 0.55, 0.56...0.68)    // purple
                case .rust: return (22, 0.50, 0.42...0.52)       // rust brown
                case .beam: return (300, 0.60, 0.48...0.58)      // magenta
                }
            }
        }

        /// An `rgb(...)` colour for a frame named `name` (`""`: the kind's middle colour).
        func color(for name: String) -> String {
            let palette = self.palette
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            let variation = name.isEmpty ? 0.5 : Double(hash % 1000) / 999
            let lightness = palette.lightness.lowerBound
                + (palette.lightness.upperBound - palette.lightness.lowerBound) * variation
            let hue = palette.hue + (variation - 0.5) * 10
            return rgb(hue: hue, saturation: palette.saturation, lightness: lightness)
        }
    }

    struct Node {
        var name: String
        var kind: Kind
        /// `PathSegment.sourceFile`.
        var sourceFile: String? = nil
        var count: Int64
        var children: [PathSegment: Int] = [:]
    }

    /// `nodes[0]` is the root.
    private(set) var nodes: [Node]

    init(aggregate: ProfileAggregate, style: StackPathStyle) {
        nodes = [Node(name: FlameGraphSVG.rootName, kind: .root, count: 0)]
        for (path, count) in aggregate.rootFirstPaths(style: style) {
            nodes[0].count.saturatingAdd(count)
            var current = 0
            for segment in path {
                if let child = nodes[current].children[segment] {
                    nodes[child].count.saturatingAdd(count)
                    current = child
                } else {
                    let child = nodes.count
                    nodes.append(Node(name: segment.name, kind: Kind(segment.kind), sourceFile: segment.sourceFile,
                                      count: count))
                    nodes[current].children[segment] = child
                    current = child
                }
            }
        }
    }

    /// The children of `index` by name (UTF-8 order), then kind, then source path.
    func sortedChildren(of index: Int) -> [Int] {
        nodes[index].children.values.sorted { lhs, rhs in
            let left = nodes[lhs], right = nodes[rhs]
            if left.name != right.name { return left.name.utf8.lexicographicallyPrecedes(right.name.utf8) }
            if left.kind.legendName != right.kind.legendName { return left.kind.legendName < right.kind.legendName }
            return (left.sourceFile ?? "").utf8.lexicographicallyPrecedes((right.sourceFile ?? "").utf8)
        }
    }
}

/// `rgb(r,g,b)` for an HSL colour (hue in degrees, the rest in 0...1).
private func rgb(hue: Double, saturation: Double, lightness: Double) -> String {
    let chroma = (1 - abs(2 * lightness - 1)) * saturation
    let sector = (hue.truncatingRemainder(dividingBy: 360) + 360).truncatingRemainder(dividingBy: 360) / 60
    let second = chroma * (1 - abs(sector.truncatingRemainder(dividingBy: 2) - 1))
    let (red, green, blue): (Double, Double, Double)
    switch sector {
    case ..<1: (red, green, blue) = (chroma, second, 0)
    case ..<2: (red, green, blue) = (second, chroma, 0)
    case ..<3: (red, green, blue) = (0, chroma, second)
    case ..<4: (red, green, blue) = (0, second, chroma)
    case ..<5: (red, green, blue) = (second, 0, chroma)
    default: (red, green, blue) = (chroma, 0, second)
    }
    let offset = lightness - chroma / 2
    func channel(_ value: Double) -> Int { Int(((value + offset) * 255).rounded()) }
    return "rgb(\(channel(red)),\(channel(green)),\(channel(blue)))"
}
