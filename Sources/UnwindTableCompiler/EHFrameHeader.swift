import UnwindTableFormat

/// `.eh_frame_hdr` (or the `PT_GNU_EH_FRAME` segment): where `.eh_frame` starts and the
/// sorted search table of FDEs the runtime unwinder uses.
struct EHFrameHeader {
    /// Virtual address of `.eh_frame`.
    var ehFrameAddress: UInt64
    /// `(initial location, FDE address)` pairs, as stored (sorted by the linker).
    var searchTable: [(location: UInt64, fdeAddress: UInt64)]

    /// Parses the header whose first byte is at virtual address `address`.
    init(cursor: ByteCursor, address: UInt64) throws(UnwindTableError) {
        var cursor = cursor
        let version = try cursor.u8()
        guard version == 1 else {
            throw cursor.error(.malformedHeader(field: ".eh_frame_hdr version", value: UInt64(version)), at: cursor.sectionStart)
        }
        let framePointerEncoding = try cursor.u8()
        let countEncoding = try cursor.u8()
        let tableEncoding = try cursor.u8()
        // datarel in .eh_frame_hdr is relative to the header's own start.
        let bases = PointerEncoding.Bases(sectionAddress: address, text: nil, data: address)
        ehFrameAddress = try cursor.encodedPointer(framePointerEncoding, bases: bases)
        searchTable = []
        guard countEncoding != PointerEncoding.omit, tableEncoding != PointerEncoding.omit else { return }
        let count = try cursor.encodedPointer(countEncoding, bases: bases)
        // Each entry takes at least two bytes: a count the header cannot hold is refused before allocating.
        guard count <= UInt64(cursor.remaining / 2) else {
            throw cursor.error(.malformedHeader(field: ".eh_frame_hdr fde_count", value: count))
        }
        searchTable.reserveCapacity(Int(count))
        for _ in 0..<Int(count) {
            let location = try cursor.encodedPointer(tableEncoding, bases: bases)
            let fde = try cursor.encodedPointer(tableEncoding, bases: bases)
            searchTable.append((location, fde))
        }
    }
}
