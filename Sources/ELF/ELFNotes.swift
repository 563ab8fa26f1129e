extension ELFFile {
    /// `NT_GNU_BUILD_ID`.
    static let noteGNUBuildID: UInt32 = 3
    /// Note areas larger than this are not read (a build id note is 36 bytes; a whole
    /// `PT_NOTE` segment a few hundred).
    public static let maximumNotesSize: UInt64 = 1 << 20

    /// The GNU build id: from the `PT_NOTE` segments (present even without section
    /// headers), else from the `SHT_NOTE` sections; nil when there is none.
    ///
    /// A `PT_NOTE` outside the file is skipped (a separate debug file keeps its program
    /// headers but not their bytes); an `SHT_NOTE` section larger than `maximumNotesSize`
    /// throws; a note whose sizes run past its area ends the walk of that area.
    public func buildID() throws(ELFFileError) -> [UInt8]? {
        for segment in programHeaders where segment.type == Self.segmentNote && segment.fileSize <= Self.maximumNotesSize
            && segment.offset <= fileSize && segment.fileSize <= fileSize - segment.offset {
            let notes = try source.bytes(at: segment.offset, count: segment.fileSize, place: "PT_NOTE")
            if let id = Self.buildID(inNotes: notes, alignment: segment.alignment) { return id }
        }
        for section in sections where section.type == Self.sectionTypeNote {
            let notes = try storedBytes(of: section, limit: Self.maximumNotesSize)
            if let id = Self.buildID(inNotes: notes, alignment: section.alignment) { return id }
        }
        return nil
    }

    /// Walks `Elf64_Nhdr` records (`namesz`, `descsz`, `type`, then the name and the
    /// descriptor, each padded to the area's alignment: 8 for 8-aligned areas, else 4)
    /// for `NT_GNU_BUILD_ID` owned by "GNU".
    static func buildID(inNotes notes: [UInt8], alignment: UInt64) -> [UInt8]? {
        let padding: UInt64 = alignment == 8 ? 8 : 4
        func padded(_ size: UInt64) -> UInt64 { (size + padding - 1) & ~(padding - 1) }
        var offset: UInt64 = 0
        let end = UInt64(notes.count)
        while end >= 12, offset <= end - 12 {
            let nameSize = UInt64(notes.littleEndian32(at: Int(offset)))
            let descriptorSize = UInt64(notes.littleEndian32(at: Int(offset) + 4))
            let type = notes.littleEndian32(at: Int(offset) + 8)
            let nameStart = offset + 12
            // Sizes are 32-bit, so these sums cannot overflow.
            let descriptorStart = nameStart + padded(nameSize)
            guard descriptorStart <= end, descriptorSize <= end - descriptorStart else { return nil }
            if type == noteGNUBuildID, nameSize == 4,
               notes[Int(nameStart)..<Int(nameStart) + 4].elementsEqual("GNU\0".utf8) {
                return Array(notes[Int(descriptorStart)..<Int(descriptorStart + descriptorSize)])
            }
            offset = descriptorStart + padded(descriptorSize)
        }
        return nil
    }
}
