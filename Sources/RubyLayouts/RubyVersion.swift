/// A Ruby release line (3.1 for 3.1.2): the VM's layouts differ between minor versions.
public struct RubyVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8

    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// `major << 8 | minor`: the C layout's `version` field (0x0301 for 3.1).
    public var packed: UInt32 { UInt32(major) << 8 | UInt32(minor) }

    public var description: String { "\(major).\(minor)" }

    public static func < (lhs: RubyVersion, rhs: RubyVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
