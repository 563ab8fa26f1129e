import ELF

/// Why a file that exports HotSpot's tables could not be read as one.
public enum HotSpotDetectionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file could not be read.
    case file(ELFFileError)
    /// The tables are not where or what their symbols say: a damaged or foreign file.
    case unreadable(String)

    public var description: String {
        switch self {
        case .file(let error): return error.description
        case .unreadable(let reason): return "libjvm.so's vmStructs table: \(reason)"
        }
    }
}
