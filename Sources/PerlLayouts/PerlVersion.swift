/// A perl release (5.36.0). Layouts are per release: the table names each one it was
/// generated from, and detection matches the whole version.
public struct PerlVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var revision: UInt8
    public var version: UInt8
    public var subversion: UInt8

    public init(revision: UInt8, version: UInt8, subversion: UInt8) {
        self.revision = revision
        self.version = version
        self.subversion = subversion
    }

    /// `revision << 16 | version << 8 | subversion`: the C layout's `version` field.
    public var packed: UInt32 { UInt32(revision) << 16 | UInt32(version) << 8 | UInt32(subversion) }

    public var description: String { "\(revision).\(version).\(subversion)" }

    public static func < (lhs: PerlVersion, rhs: PerlVersion) -> Bool {
        (lhs.revision, lhs.version, lhs.subversion) < (rhs.revision, rhs.version, rhs.subversion)
    }
}
