/// An Erlang function as its function record named it (record 30, docs/beam.md): what a BEAM
/// frame shows.
public struct BEAMFunction: Hashable, Sendable {
    /// The module's atom: `known_truth`, `Elixir.Enum`.
    public var module: String
    /// The function's atom: `alpha`, `-descend/2-fun-0-`.
    public var function: String
    public var arity: UInt8

    public init(module: String, function: String, arity: UInt8) {
        self.module = module
        self.function = function
        self.arity = arity
    }

    /// How the language the module was written in names the function: Erlang's
    /// `module:function/arity`, or Elixir's `Module.function/arity` for a module whose atom
    /// starts with `Elixir.` (the prefix every Elixir module's atom has).
    public var name: String {
        if module.hasPrefix(Self.elixirPrefix), module.count > Self.elixirPrefix.count {
            return "\(module.dropFirst(Self.elixirPrefix.count)).\(function)/\(arity)"
        }
        return "\(module):\(function)/\(arity)"
    }

    static let elixirPrefix = "Elixir."
}

/// Why a function record could not be used.
public enum BEAMFunctionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The module's or the function's atom could not be read: nothing to show.
    case nameUnreadable
    /// An arity no Erlang function has (at most 255).
    case arityOutOfRange(UInt64)
    /// An atom name longer than any atom (255 characters, at most 4 bytes each).
    case nameTooLong(Int)
    /// The copy of the function's line table is not one the walker makes.
    case linesMalformed(String)

    public var description: String {
        switch self {
        case .nameUnreadable: "the function's module or name atom could not be read"
        case .arityOutOfRange(let arity): "arity \(arity) is above Erlang's 255"
        case .nameTooLong(let bytes): "an atom name of \(bytes) bytes is longer than any atom (1,020)"
        case .linesMalformed(let what): "the function's line table copy is malformed: \(what)"
        }
    }
}

/// `tandem_beam_function_flags` (bpf/tandem_beam.h).
public struct BEAMFunctionFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let moduleUnreadable = BEAMFunctionFlags(rawValue: 1)
    public static let nameUnreadable = BEAMFunctionFlags(rawValue: 2)
    public static let noLines = BEAMFunctionFlags(rawValue: 4)
    public static let linesUnreadable = BEAMFunctionFlags(rawValue: 8)
    public static let linesTruncated = BEAMFunctionFlags(rawValue: 16)
    public static let fileUnreadable = BEAMFunctionFlags(rawValue: 32)
}

extension BEAMFunction {
    /// 255 characters of up to 4 UTF-8 bytes (the walker copies at most 255 bytes; a hostile
    /// stream may send more).
    public static let maximumNameBytes = 255 * 4

    /// Parses the walker's copies (untrusted bytes: the UTF-8 of the module's and the
    /// function's atoms, as the VM stores them) and the MFA's arity word.
    public init(flags: BEAMFunctionFlags, arity: UInt64, module: [UInt8], function: [UInt8]) throws(BEAMFunctionError) {
        guard !flags.contains(.moduleUnreadable), !flags.contains(.nameUnreadable) else { throw .nameUnreadable }
        guard let small = UInt8(exactly: arity) else { throw .arityOutOfRange(arity) }
        for name in [module, function] where name.count > Self.maximumNameBytes {
            throw .nameTooLong(name.count)
        }
        self.init(module: String(decoding: module, as: UTF8.self), function: String(decoding: function, as: UTF8.self),
                  arity: small)
    }
}
