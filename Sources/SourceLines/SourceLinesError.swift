import UnwindTableFormat

/// Why a file's line information gave no table: its program is malformed (every
/// offset, length and operand is checked, nothing traps), or it is larger than the cap.
public struct SourceLinesError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Truncated, out of bounds, an unknown form or version: `reason` says which and where.
        case malformed(reason: String)
        /// More rows than the table may hold (`maximumRows`).
        case tooManyRows(limit: Int)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    init(_ error: UnwindTableError) { self.kind = .malformed(reason: error.description) }

    public var description: String {
        switch kind {
        case .malformed(let reason): reason
        case .tooManyRows(let limit):
            "more than \(limit) line rows; the file gets no source lines (raise the limit if such files are expected)"
        }
    }
}
