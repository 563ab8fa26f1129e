import PerlLayouts

/// A sub (or a main program) as its sub record named it: what a Perl frame shows.
public struct PerlSub: Hashable, Sendable {
    /// `Package::name`; the name alone when the package is unknown; `main` for a main program.
    public var name: String
    /// The file the sub was defined in (the main program's file); empty when unknown.
    public var file: String

    /// The name of a main program's frame (code outside any sub).
    public static let mainProgramName = "main"

    public init(name: String, file: String) {
        self.name = name
        self.file = file
    }
}

/// Why a sub record could not be parsed.
public enum PerlSubError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A HEK copy shorter than its header, or whose length does not fit what was copied.
    case malformedName(field: String, bytes: Int)
    /// The name could not be read: nothing to show.
    case nameUnreadable

    public var description: String {
        switch self {
        case .malformedName(let field, let bytes): "the \(field) copy (\(bytes) bytes) is not a HEK of that length"
        case .nameUnreadable: "the sub's name could not be read"
        }
    }
}

/// `tandem_perl_sub_flags` (bpf/tandem_perl.h).
public struct PerlSubFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let nameCut = PerlSubFlags(rawValue: 1)
    public static let packageCut = PerlSubFlags(rawValue: 2)
    public static let fileCut = PerlSubFlags(rawValue: 4)
    public static let nameUnreadable = PerlSubFlags(rawValue: 8)
    public static let packageUnreadable = PerlSubFlags(rawValue: 16)
    public static let fileUnreadable = PerlSubFlags(rawValue: 32)
    /// A main program's record: only the file is set.
    public static let mainProgram = PerlSubFlags(rawValue: 64)
}

extension PerlSub {
    /// Parses the walker's copies (untrusted bytes) with `layout`: the name's and the
    /// package's HEKs (hash, length, key, each from the HEK's first byte) and the file name.
    /// A copy the walker cut (flags) keeps the bytes it has.
    public init(flags: PerlSubFlags, name: [UInt8], package: [UInt8], file: [UInt8], layout: PerlLayout) throws(PerlSubError) {
        self.file = String(decoding: file.prefix { $0 != 0 }, as: UTF8.self)
        if flags.contains(.mainProgram) {
            self.name = Self.mainProgramName
            return
        }
        guard !flags.contains(.nameUnreadable) else { throw .nameUnreadable }
        let subName = try Self.hekKey(name, cut: flags.contains(.nameCut), field: "name", layout: layout)
        let packageName = flags.contains(.packageUnreadable)
            ? "" : try Self.hekKey(package, cut: flags.contains(.packageCut), field: "package", layout: layout)
        self.name = packageName.isEmpty ? subName : "\(packageName)::\(subName)"
    }

    /// The key of a HEK copy: `hek_len` bytes at `hek_key`, or what is there when the walker cut it.
    static func hekKey(_ bytes: [UInt8], cut: Bool, field: String, layout: PerlLayout) throws(PerlSubError) -> String {
        let lengthOffset = Int(layout.hekLength), keyOffset = Int(layout.hekKey)
        guard bytes.count >= keyOffset, bytes.count >= lengthOffset + 4 else {
            throw .malformedName(field: field, bytes: bytes.count)
        }
        let length = Int(Int32(bitPattern: UInt32(bytes[lengthOffset]) | UInt32(bytes[lengthOffset + 1]) << 8
            | UInt32(bytes[lengthOffset + 2]) << 16 | UInt32(bytes[lengthOffset + 3]) << 24))
        let available = bytes.count - keyOffset
        guard length >= 0, cut ? length >= available : length <= available else {
            throw .malformedName(field: field, bytes: bytes.count)
        }
        return String(decoding: bytes[keyOffset..<keyOffset + min(length, available)], as: UTF8.self)
    }
}
