import RubyLayouts

/// The raw copies an iseq record carries (bpf/tandem_ruby.h `struct tandem_ruby_iseq_event`),
/// as the stream delivers them.
public struct RubyISeqCopies: Hashable, Sendable {
    /// The first bytes of the iseq's `rb_iseq_constant_body`.
    public var body: [UInt8]
    /// The characters of `location.label`.
    public var label: [UInt8]
    /// The characters of the path (`location.pathobj`, or its first element).
    public var path: [UInt8]
    /// `insns_info.body`: whole `iseq_insn_info_entry`s.
    public var lineEntries: [UInt8]
    /// `insns_info.succ_index_table`.
    public var succinctTable: [UInt8]

    public init(body: [UInt8], label: [UInt8], path: [UInt8], lineEntries: [UInt8], succinctTable: [UInt8]) {
        self.body = body
        self.label = label
        self.path = path
        self.lineEntries = lineEntries
        self.succinctTable = succinctTable
    }
}

/// What an iseq record says of a Ruby method, block or class body, or a method record of a C method.
public struct RubyISeq: Hashable, Sendable {
    /// What Ruby's own backtraces name the frame: `alpha`, `block in alpha`, `<main>`, `<class:Calc>`.
    public var label: String
    /// The source path as the VM has it (relative to where the script was started, or absolute).
    public var path: String
    public var firstLine: Int
    public var lineTable: RubyLineTable
    /// A C method (`Integer#times`): `label` is its name; no path or lines of its own (Ruby's
    /// backtraces give it its caller's).
    public var isCMethod: Bool

    public init(label: String, path: String, firstLine: Int, lineTable: RubyLineTable, isCMethod: Bool = false) {
        self.label = label
        self.path = path
        self.firstLine = firstLine
        self.lineTable = lineTable
        self.isCMethod = isCMethod
    }

    /// The line of the instruction at `position`; the iseq's first line when the table does not reach it.
    public func line(atPosition position: UInt32) -> Int {
        lineTable.line(atPosition: Int(position)) ?? firstLine
    }
}

/// Why an iseq record cannot be decoded.
public enum RubyISeqError: Error, Hashable, Sendable, CustomStringConvertible {
    case bodyTooShort(bytes: Int, needed: Int)
    case emptyLabel

    public var description: String {
        switch self {
        case .bodyTooShort(let bytes, let needed):
            "iseq record with \(bytes) body bytes, the layout reads \(needed): a sampler of another layout table?"
        case .emptyLabel: "iseq record without a label (unreadable in the process)"
        }
    }
}

extension RubyISeq {
    /// A C method's record: its name (`original_id` through the VM's symbol table), as Ruby
    /// 3.1's backtraces label a C method's frame (`times`, `loop`).
    public static func decodeCMethod(name: [UInt8]) throws(RubyISeqError) -> RubyISeq {
        guard !name.isEmpty else { throw .emptyLabel }
        return RubyISeq(label: String(decoding: name, as: UTF8.self), path: "", firstLine: 0,
                        lineTable: RubyLineTable(lines: [], succinctTable: [], entryCount: 0), isCMethod: true)
    }

    /// Decodes `copies` with the layout the record names. Invalid UTF-8 is replaced, not refused.
    public static func decode(_ copies: RubyISeqCopies, layout: RubyLayout) throws(RubyISeqError) -> RubyISeq {
        let needed = Int(layout.bodyBytes)
        guard copies.body.count >= needed else { throw .bodyTooShort(bytes: copies.body.count, needed: needed) }
        guard !copies.label.isEmpty else { throw .emptyLabel }
        // first_lineno is a Fixnum: (n << 1) | 1.
        let firstLine = Int(truncatingIfNeeded: Int64(bitPattern: word(copies.body, Int(layout.bodyFirstLine))) >> 1)
        let entryCount = Int(word(copies.body, Int(layout.bodyLineEntryCount)) & 0xFFFF_FFFF)
        let entrySize = Int(layout.lineEntrySize)
        var lines: [Int32] = []
        if entrySize > 0 {
            let copied = min(entryCount, copies.lineEntries.count / entrySize)
            lines.reserveCapacity(copied)
            for index in 0..<copied {
                let start = index * entrySize + Int(layout.lineEntryLine)
                lines.append(Int32(bitPattern: UInt32(truncatingIfNeeded: word(copies.lineEntries, start, bytes: 4))))
            }
        }
        return RubyISeq(label: String(decoding: copies.label, as: UTF8.self),
                        path: String(decoding: copies.path, as: UTF8.self),
                        firstLine: max(0, firstLine),
                        lineTable: RubyLineTable(lines: lines, succinctTable: copies.succinctTable, entryCount: entryCount))
    }

    /// The little-endian word of `bytes` bytes at `offset` (0 past the end).
    private static func word(_ data: [UInt8], _ offset: Int, bytes: Int = 8) -> UInt64 {
        guard offset >= 0, offset + bytes <= data.count else { return 0 }
        var value: UInt64 = 0
        for index in (0..<bytes).reversed() { value = value << 8 | UInt64(data[offset + index]) }
        return value
    }
}
