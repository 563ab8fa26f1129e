/// A function (or a file's top-level code) as its function record named it: what a PHP
/// frame shows.
public struct PHPFunction: Hashable, Sendable {
    /// `Class::method`, `function`, or `{main}` for a file's top-level code.
    public var name: String
    /// The file the function was compiled from; empty for an internal function or when unknown.
    public var file: String
    /// The first line of the function's code; 0 for an internal function.
    public var firstLine: UInt32
    /// Written in C (an extension's or the engine's own).
    public var isInternal: Bool

    /// The name of a file's top-level code, as PHP's own backtraces show it.
    public static let topLevelName = "{main}"
    /// `zend_function.type` of a function written in C.
    public static let internalType: UInt8 = 1

    public init(name: String, file: String, firstLine: UInt32, isInternal: Bool) {
        self.name = name
        self.file = file
        self.firstLine = firstLine
        self.isInternal = isInternal
    }
}

/// Why a function record could not be used.
public enum PHPFunctionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The function's name could not be read: nothing to show.
    case nameUnreadable
    /// A type the engine does not have (1 internal, 2 user function, 4 eval'd code).
    case unknownType(UInt8)

    public var description: String {
        switch self {
        case .nameUnreadable: "the function's name could not be read"
        case .unknownType(let type): "function type \(type) is none of PHP's (1, 2, 4)"
        }
    }
}

/// `tandem_php_function_flags` (bpf/tandem_php.h).
public struct PHPFunctionFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let nameCut = PHPFunctionFlags(rawValue: 1)
    public static let classCut = PHPFunctionFlags(rawValue: 2)
    public static let fileCut = PHPFunctionFlags(rawValue: 4)
    public static let nameUnreadable = PHPFunctionFlags(rawValue: 8)
    public static let classUnreadable = PHPFunctionFlags(rawValue: 16)
    public static let fileUnreadable = PHPFunctionFlags(rawValue: 32)
}

extension PHPFunction {
    /// The largest name or file kept (the walker copies less; a hostile stream may send more).
    public static let maximumTextBytes = 1024

    /// Parses the walker's copies (untrusted bytes: the characters of the function's name,
    /// its class's name and its file name). A copy the walker cut keeps the bytes it has.
    public init(type: UInt8, flags: PHPFunctionFlags, hasName: Bool, hasClass: Bool, lineStart: UInt32,
                name: [UInt8], className: [UInt8], file: [UInt8]) throws(PHPFunctionError) {
        guard [1, 2, 4].contains(type) else { throw .unknownType(type) }
        isInternal = type == Self.internalType
        firstLine = isInternal ? 0 : lineStart
        self.file = isInternal || flags.contains(.fileUnreadable) ? "" : Self.text(file)
        guard hasName else {
            // A file's (or an eval's) top-level code.
            self.name = Self.topLevelName
            return
        }
        guard !flags.contains(.nameUnreadable) else { throw .nameUnreadable }
        let function = Self.text(name)
        let scope = hasClass && !flags.contains(.classUnreadable) ? Self.text(className) : ""
        self.name = scope.isEmpty ? function : "\(scope)::\(function)"
    }

    /// UTF-8 text of a copy, bounded (invalid bytes become U+FFFD).
    static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(maximumTextBytes), as: UTF8.self)
    }
}
