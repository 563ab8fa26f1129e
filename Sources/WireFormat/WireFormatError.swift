/// Why a stream could not be decoded, and where.
///
/// The decoder is the aggregator's security boundary: every malformed,
/// truncated or hostile input ends in one of these, never in a trap.
public struct WireFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Error, Hashable, Sendable {
        /// The stream does not start with `TNDM`.
        case badMagic
        /// A format version this decoder does not read.
        case unsupportedVersion(UInt64)
        /// The bytes end inside a value, a record or the header.
        case truncated
        /// A varint longer than 64 bits.
        case malformedVarint
        /// A string that is not UTF-8.
        case invalidUTF8
        /// A length or count above the decoder's documented bound.
        case limitExceeded(what: String, value: UInt64, limit: UInt64)
        /// A field whose value cannot be valid (e.g. a pid above 2^32, an unknown stack kind).
        case valueOutOfRange(field: String, value: UInt64)
        /// A definition whose id is not the next one expected (ids are dense, from 1).
        case unexpectedDefinitionID(expected: UInt64, found: UInt64)
        /// A reference to a stack or thread id that was never defined.
        case undefinedReference(what: String, id: UInt64)
        /// A record after the end-of-stream record.
        case dataAfterEndOfStream
    }

    public var kind: Kind
    /// The record type code; `nil` when the error is in the stream header (offset 0)
    /// or the input ends before the record's type could be read.
    public var recordType: UInt64?
    /// Byte offset, from the start of the stream, of the record (or header) in error.
    public var offset: Int

    public init(kind: Kind, recordType: UInt64?, offset: Int) {
        self.kind = kind
        self.recordType = recordType
        self.offset = offset
    }

    /// The record's name, `header`, or `record type N` for unknown codes.
    public var recordName: String {
        // The header is the only thing at offset 0: every record comes after it.
        guard let recordType else { return offset == 0 ? "header" : "record" }
        if let known = RecordType(rawValue: recordType) { return "\(known)" }
        return "record type \(recordType)"
    }

    public var description: String {
        "malformed stream: \(recordName) at byte offset \(offset): \(kind.explanation)"
    }
}

extension WireFormatError.Kind {
    /// The cause, in words.
    public var explanation: String {
        let what: String
        switch self {
        case .badMagic: what = "not a tandem stream (the first bytes are not \"TNDM\")"
        case .unsupportedVersion(let version):
            what = "format version \(version) is not supported (this build reads version \(StreamHeader.currentVersion)); upgrade the aggregator"
        case .truncated: what = "the data ends inside the record"
        case .malformedVarint: what = "malformed varint (longer than 64 bits)"
        case .invalidUTF8: what = "a string is not valid UTF-8"
        case .limitExceeded(let field, let value, let limit): what = "\(field) \(value) exceeds the limit \(limit)"
        case .valueOutOfRange(let field, let value): what = "\(field) has the invalid value \(value)"
        case .unexpectedDefinitionID(let expected, let found): what = "definition id \(found) where \(expected) was expected"
        case .undefinedReference(let field, let id): what = "\(field) id \(id) was never defined"
        case .dataAfterEndOfStream: what = "data after the end-of-stream record"
        }
        return what
    }
}
