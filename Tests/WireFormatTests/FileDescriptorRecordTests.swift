import Testing
@testable import WireFormat

/// The file descriptor record (16): the sampler's answer to a file request, read like
/// every other record (bounded, typed errors); the descriptor itself is not in the bytes.
@Suite struct FileDescriptorRecordTests {
    static let answers = [
        FileDescriptorAnswer(pid: 300, start: 0x401000, device: 0x803, inode: 9, status: .attached),
        FileDescriptorAnswer(pid: -1, start: .max, device: .max, inode: .max, status: .openFailed, errorNumber: 13),
        FileDescriptorAnswer(pid: 1, start: 0, device: 0, inode: 0, status: FileDescriptorStatus(rawValue: 99)),
    ]

    @Test func roundTripsInAnyChunking() {
        let bytes = encode(Self.answers.map { .record(.fileDescriptor($0)) })
        for chunk in [1, 2, 7, bytes.count] {
            let decoded = decodeChunked(bytes, chunkSizes: [chunk])
            #expect(decoded.error == nil)
            let answers = decoded.records.compactMap { if case .fileDescriptor(let answer) = $0 { answer } else { nil } }
            #expect(answers == Self.answers, "chunk \(chunk)")
        }
        #expect(Record.fileDescriptor(Self.answers[0]).type == .fileDescriptor)
        #expect("\(FileDescriptorStatus(rawValue: 99))" == "status_99")
        #expect("\(FileDescriptorStatus.unknownMapping)" == "unknown_mapping")
    }

    @Test func documentedBytes() {
        var encoder = StreamEncoder(header: testHeader)
        _ = encoder.takeBytes()
        encoder.append(.fileDescriptor(FileDescriptorAnswer(pid: 300, start: 0x401000, device: 0x803, inode: 9,
                                                            status: .openFailed, errorNumber: 13)))
        // type 16, 11 bytes: pid 300, start 0x401000, dev 0x803, inode 9, status 2, errno 13 (5.12).
        #expect(encoder.takeBytes() == [0x10, 0x0B, 0xAC, 0x02, 0x80, 0xA0, 0x80, 0x02, 0x83, 0x10, 0x09, 0x02, 0x0D])
    }

    @Test func malformedPayloadsAreTypedErrors() {
        let headerOnly = encode([])
        // Ends inside the errno field.
        let cut = decodingError(headerOnly + [0x10, 0x06, 0xAC, 0x02, 0x00, 0x00, 0x00, 0x00])
        #expect(cut?.kind == .truncated)
        #expect(cut?.recordType == 16)
        #expect(cut?.description.hasPrefix("malformed stream: fileDescriptor at byte offset") == true)
        // errno above 32 bits; pid above 32 bits.
        #expect(decodingError(headerOnly + [0x10, 0x0A, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10])?.kind
            == .valueOutOfRange(field: "error number", value: 1 << 32))
        #expect(decodingError(headerOnly + [0x10, 0x0A, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00])?.kind
            == .valueOutOfRange(field: "pid", value: 1 << 32))
        // Appended fields are ignored, as for every record.
        let longer = decodeChunked(headerOnly + [0x10, 0x08, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0xFF, 0x01], chunkSizes: [3])
        #expect(longer.error == nil)
        #expect(longer.records.last == .fileDescriptor(FileDescriptorAnswer(pid: 1, start: 2, device: 3, inode: 4, status: .attached)))
    }
}
