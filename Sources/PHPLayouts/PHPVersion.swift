/// A PHP minor version (8.2). Layouts are per minor version: PHP keeps its engine's
/// structs (and its module API number) fixed across a minor version's patch releases.
public struct PHPVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8

    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// `major << 8 | minor`: the C layout's `version` field.
    public var packed: UInt32 { UInt32(major) << 8 | UInt32(minor) }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: PHPVersion, rhs: PHPVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
