import ELF
#if canImport(Glibc)
import Glibc
#endif

/// An open file is what the shared ELF reader reads: with `pread`, only the ranges it
/// asks for, so a large binary is never read whole to be symbolized.
extension OpenFile: ELFByteSource {
    public var name: String { path }

    /// The size `fstat` gave when the file was opened: ranges past it are refused
    /// before they are read.
    public var byteCount: UInt64 { UInt64(max(size, 0)) }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(ELFFileError) {
        guard buffer.baseAddress != nil, offset <= UInt64(Int64.max) - UInt64(buffer.count) else {
            guard buffer.isEmpty else {
                throw ELFFileError(.outOfFileBounds(offset: offset, size: UInt64(buffer.count), fileSize: byteCount),
                                   file: path, place: "file", offset: offset)
            }
            return
        }
        var done = 0
        while done < buffer.count {
            let count: Int
            do {
                count = try descriptor.read(fromAbsoluteOffset: Int64(offset) + Int64(done),
                                            into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch {
                throw ELFFileError(.readFailed(reason: "\(error)"), file: path, place: "file", offset: offset + UInt64(done))
            }
            if count == 0 {
                throw ELFFileError(.readFailed(reason: "the file ends before \(offset + UInt64(buffer.count)) (it shrank while read)"),
                                   file: path, place: "file", offset: offset + UInt64(done))
            }
            done += count
        }
    }
}
