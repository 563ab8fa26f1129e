/// The id of a collector component or pipeline: `type` or `type/name`
/// (`elasticsearch`, `otlphttp/backup`, `metrics/profiling`).
public struct ComponentID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var type: String
    public var name: String?

    public init(type: String, name: String? = nil) {
        self.type = type
        self.name = name
    }

    /// Parses `type[/name]`. The type starts with a letter and holds letters,
    /// digits and `_` (at most 63 characters); the name, if present, is not
    /// empty and holds no spaces.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let type = String(parts[0])
        guard let first = type.unicodeScalars.first, first.isASCIILetter,
              type.unicodeScalars.count <= 63,
              type.unicodeScalars.allSatisfy({ $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" })
        else { return nil }
        self.type = type
        if parts.count == 2 {
            let name = String(parts[1])
            guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else { return nil }
            self.name = name
        } else {
            self.name = nil
        }
    }

    public var description: String { name.map { "\(type)/\($0)" } ?? type }

    public static func < (lhs: ComponentID, rhs: ComponentID) -> Bool { lhs.description < rhs.description }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
