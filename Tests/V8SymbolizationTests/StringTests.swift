import Testing
import V8Layouts
import V8Symbolization

@Suite struct StringTests {
    let layout = V8Layout.supported[0]

    func copy(length: Int32, characters: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xAA, count: Int(layout.seqStringChars))
        for shift in 0..<4 {
            bytes[Int(layout.stringLength) + shift] = UInt8(truncatingIfNeeded: UInt32(bitPattern: length) >> (8 * UInt32(shift)))
        }
        return bytes + characters
    }

    var oneByteType: UInt16 { layout.seqStringTag | layout.oneByteStringTag }
    var twoByteType: UInt16 { layout.seqStringTag }

    @Test func oneAndTwoByteStrings() {
        #expect(V8String.decode(instanceType: oneByteType, bytes: copy(length: 7, characters: Array("fnAlpha".utf8)),
                                layout: layout) == "fnAlpha")
        #expect(V8String.decode(instanceType: oneByteType, bytes: copy(length: 4, characters: [0x63, 0x61, 0x66, 0xE9]),
                                layout: layout) == "café")
        let units = Array("λ-beta".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(V8String.decode(instanceType: twoByteType, bytes: copy(length: 6, characters: units), layout: layout) == "λ-beta")
    }

    @Test func cutAndBadCopies() {
        #expect(V8String.decode(instanceType: oneByteType, bytes: copy(length: 1000, characters: Array("spin".utf8)),
                                layout: layout) == "spin")
        #expect(V8String.decode(instanceType: oneByteType, bytes: copy(length: -5, characters: []), layout: layout) == nil)
        #expect(V8String.decode(instanceType: oneByteType, bytes: [1, 2, 3], layout: layout) == nil)
        // A cons string (representation 1) and a non-string type are not decoded here.
        #expect(V8String.decode(instanceType: oneByteType | layout.consStringTag, bytes: copy(length: 1, characters: [65]),
                                layout: layout) == nil)
        #expect(V8String.decode(instanceType: layout.typeScript, bytes: copy(length: 1, characters: [65]), layout: layout) == nil)
    }
}
