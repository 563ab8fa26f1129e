import Profiles

/// How the text outputs (folded stacks, flame graph) name the root of a stack.
public struct StackPathStyle: Hashable, Sendable {
    /// Name the process `comm-pid` instead of `comm`, keeping processes with
    /// the same command apart (and a thread `name-tid` when grouping by thread).
    public var includesPID: Bool
    /// Put each thread under its process (`comm;thread;outermost;...`), by the thread's
    /// own name: the threads of a pool with one name add up.
    public var groupsByThread: Bool
    /// Put a `[truncated]` frame between the process and the outermost frame
    /// of stacks whose user part was not walked to its root, so that they do
    /// not look like they start there.
    public var marksTruncatedStacks: Bool

    public init(includesPID: Bool = false, marksTruncatedStacks: Bool = true, groupsByThread: Bool = false) {
        self.includesPID = includesPID
        self.marksTruncatedStacks = marksTruncatedStacks
        self.groupsByThread = groupsByThread
    }

    /// The name of the pseudo-frame that marks a truncated stack.
    public static let truncationMarker = "[truncated]"
}

/// One element of a root-first stack path.
struct PathSegment: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case process
        case thread
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
    /// Every cell as a root-first path (process, the thread when grouping by thread,
    /// optional truncation marker, outermost frame ... leaf) with its count, frames named
    /// by `Frame.locationLabel`. A thread without a name (a stream from before thread
    /// names) is named by its process.
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
            path.reserveCapacity(stack.count + 3)
            let process = processSegments[Int(cell.key.process)]
            path.append(process)
            if style.groupsByThread {
                let ownName = threadNames[Int(cell.key.threadName)]
                let name = ownName.isEmpty ? processes[Int(cell.key.process)].comm : ownName
                path.append(PathSegment(name: style.includesPID ? "\(name)-\(cell.key.threadID)" : name, kind: .thread))
            }
            if style.marksTruncatedStacks && cell.key.userStackTruncated {
                path.append(PathSegment(name: StackPathStyle.truncationMarker, kind: .truncation))
            }
            for frameID in stack.reversed() { path.append(frameSegments[Int(frameID)]) }
            return (path, cell.count)
        }
    }
}
