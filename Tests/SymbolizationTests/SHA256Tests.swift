import Foundation
import Testing
@testable import Symbolization

/// SHA-256 (Sources/Symbolization/SHA256.swift) against FIPS 180-4's examples and against
/// Python's hashlib for every length across the padding's block boundaries.
@Suite struct SHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("FIPS 180-4's examples: one block, two blocks, a million bytes, and the empty message")
    func standardExamples() {
        #expect(Self.hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(Self.hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("every length from 0 to 200 bytes, and 8 KiB plus 8 (a file ID's input), as hashlib hashes them")
    func lengthsAgainstHashlib() throws {
        let lengths = Array(0...200) + [8200]
        // Byte i of a message is i * 7 + its length, modulo 256, on both sides.
        let script = """
            import hashlib, sys
            for n in map(int, sys.argv[1:]):
                print(hashlib.sha256(bytes((i * 7 + n) % 256 for i in range(n))).hexdigest())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + lengths.map(String.init)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let expected = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        process.waitUntilExit()
        try #require(expected.count == lengths.count, "python3 printed \(expected.count) digests for \(lengths.count) lengths")
        for (length, digest) in zip(lengths, expected) {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + length) }
            #expect(Self.hex(SHA256.hash(message)) == digest, "length \(length)")
        }
    }
}
