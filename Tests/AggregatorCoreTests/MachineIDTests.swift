import AggregatorCore
import Foundation
import Testing

/// `host.id` comes from `/etc/machine-id`: 32 lowercase hex digits, a trailing newline
/// allowed; anything else gives no `host.id` rather than a wrong one.
@Suite struct MachineIDTests {
    static func read(_ text: String?) throws -> String? {
        let path = try temporaryDirectory() + "/machine-id"
        if let text { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        return MachineID.read(path: path)
    }

    @Test func theIDIsReadWithoutItsNewline() throws {
        #expect(try Self.read("0123456789abcdef0123456789abcdef\n") == "0123456789abcdef0123456789abcdef")
        #expect(try Self.read("0123456789abcdef0123456789abcdef") == "0123456789abcdef0123456789abcdef")
    }

    @Test(arguments: [
        "", "\n", "uninitialized\n", "0123456789ABCDEF0123456789ABCDEF\n", "0123456789abcdef0123456789abcde\n",
        "0123456789abcdef0123456789abcdef0\n", "0123456789abcdef 0123456789abcdef\n",
    ])
    func anythingElseGivesNoID(text: String) throws {
        #expect(try Self.read(text) == nil)
    }

    @Test func aMissingFileGivesNoID() throws {
        #expect(try Self.read(nil) == nil)
    }
}
