/// A CPython release line (3.11 for 3.11.7): layouts differ between minor versions only.
public struct CPythonVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8

    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// `major << 8 | minor`: the C layout's `version` field (0x030b for 3.11).
    public var packed: UInt32 { UInt32(major) << 8 | UInt32(minor) }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: CPythonVersion, rhs: CPythonVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
