/// Where an ELF file's bytes come from: a file read on demand, or an image in memory.
///
/// `ELFFile` reads only the ranges it needs (headers, name tables, notes) and checks
/// every range against `byteCount` before asking for it, so a source never sees a read
/// past its end from a well-behaved caller; it still must fail, not trap, if the file
/// shrank since `byteCount` was taken.
public protocol ELFByteSource {
    /// The name errors give the file (its path), or "" for an unnamed image.
    var name: String { get }
    /// The file's size in bytes.
    var byteCount: UInt64 { get }
    /// Fills `buffer` with the bytes at `offset`: all of them, or throws
    /// `ELFFileError.Kind.readFailed`.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(ELFFileError)
}

/// An ELF file held in memory (a whole file read for table compilation, MiniDebugInfo,
/// the vDSO, a fuzzer's input).
public struct ELFImage: ELFByteSource, Sendable {
    public let bytes: [UInt8]
    public let name: String

    public init(bytes: [UInt8], name: String = "") {
        self.bytes = bytes
        self.name = name
    }

    public var byteCount: UInt64 { UInt64(bytes.count) }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(ELFFileError) {
        guard offset <= byteCount, UInt64(buffer.count) <= byteCount - offset else {
            throw ELFFileError(.outOfFileBounds(offset: offset, size: UInt64(buffer.count), fileSize: byteCount),
                               file: name, place: "image", offset: offset)
        }
        guard !buffer.isEmpty else { return }
        bytes.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(offset)..<Int(offset) + buffer.count]))
        }
    }
}

extension ELFByteSource {
    /// `count` bytes at `offset`, which must lie inside the file (else `.outOfFileBounds`,
    /// naming `place`): nothing is allocated for a range the file cannot hold.
    public func bytes(at offset: UInt64, count: UInt64, place: String) throws(ELFFileError) -> [UInt8] {
        guard offset <= byteCount, count <= byteCount - offset else {
            throw ELFFileError(.outOfFileBounds(offset: offset, size: count, fileSize: byteCount),
                               file: name, place: place, offset: 0)
        }
        var result = [UInt8](repeating: 0, count: Int(count))
        try read(into: &result, count: Int(count), at: offset)
        return result
    }

    /// Fills the first `count` bytes of `buffer` (which must hold them) from `offset`.
    public func read(into buffer: inout [UInt8], count: Int, at offset: UInt64) throws(ELFFileError) {
        precondition(count >= 0 && count <= buffer.count)
        // withUnsafeMutableBytes rethrows untyped errors: the typed one is carried out.
        let failure = buffer.withUnsafeMutableBytes { raw -> ELFFileError? in
            do throws(ELFFileError) {
                try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[..<count]), at: offset)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}
