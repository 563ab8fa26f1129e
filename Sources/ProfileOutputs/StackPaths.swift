import Profiles

/// How the text outputs (folded stacks, flame graph) name the root of a stack.
public struct StackPathStyle: Hashable, Sendable {
    /// Name the process `comm-pid` instead of `comm`, keeping processes with
    /// the same command apart.
    public var includesPID: Bool
    /// Put a `[truncated]` frame between the process and the outermost frame
    /// of stacks whose user part was not walked to its root, so that they do
    /// not look like they start there.
    public var marksTruncatedStacks: Bool

    public init(includesPID: Bool = false, marksTruncatedStacks: Bool = true) {
        self.includesPID = includesPID
        self.marksTruncatedStacks = marksTruncatedStacks
    }

    /// The name of the pseudo-frame that marks a truncated stack.
    public static let truncationMarker = "[truncated]"
}

/// One element of a root-first stack path.
struct PathSegment: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case process
        case truncation
        case frame(FrameType)
    }

    var name: String
    var kind: Kind
    /// An interpreted frame's whole source path, which `name` shortens: the flame
    /// graph's tooltip shows it, and frames of files with one base name stay apart.
    var sourceFile: String? = nil
}

extension ProfileAggregate {
    /// Every cell as a root-first path (process, optional truncation marker,
    /// outermost frame ... leaf) with its count, frames named by `Frame.locationLabel`.
    /// Paths may repeat: cells that differ only by thread or by addresses within the
    /// same functions map to the same path.
    func rootFirstPaths(style: StackPathStyle) -> [(path: [PathSegment], count: Int64)] {
        let frameSegments = frames.map {
            PathSegment(name: $0.locationLabel, kind: .frame($0.type), sourceFile: $0.interpretedSourceFile)
        }
        let processSegments = processes.map { process in
            let comm = process.comm.isEmpty ? "[unknown]" : process.comm
            return PathSegment(name: style.includesPID ? "\(comm)-\(process.pid)" : comm, kind: .process)
        }
        return cells.map { cell in
            let stack = stacks[Int(cell.key.stack)]
            var path: [PathSegment] = []
            path.reserveCapacity(stack.count + 2)
            path.append(processSegments[Int(cell.key.process)])
            if style.marksTruncatedStacks && cell.key.userStackTruncated {
                path.append(PathSegment(name: StackPathStyle.truncationMarker, kind: .truncation))
            }
            for frameID in stack.reversed() { path.append(frameSegments[Int(frameID)]) }
            return (path, cell.count)
        }
    }
}
