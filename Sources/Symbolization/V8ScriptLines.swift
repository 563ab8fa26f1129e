import V8Symbolization

/// The line ends of the scripts JavaScript frames name, counted from the script files
/// (docs/v8.md "Lines"): V8 positions are offsets in the script's source, and the lines V8
/// itself counts (`Script.line_ends`) are filled lazily, so the aggregator reads the file a
/// script was loaded from instead. Only a script named by an absolute path or a `file://`
/// URL has one; it is opened in the process's own root (containers) when the aggregator may
/// look through it, never then at the same path outside it (another file, whose lines would
/// be wrong), with `OpenFile.open`
/// (a regular file or nothing: no FIFO or device is opened), read only up to
/// `maximumFileSize`, and its ends kept by file identity, within `maximumEnds` over all
/// scripts. A script that cannot be read is remembered as such and gives line 0.
struct V8ScriptLines {
    /// Script files larger than this are not read (a bundle of this size has few, long lines).
    static let maximumFileSize = 16 << 20
    /// Line ends kept over all scripts (8 bytes each); past it, further scripts get no lines.
    static let maximumEnds = 1 << 22
    /// (root, path) pairs remembered; past it, the map is emptied and files are looked up again.
    static let maximumPaths = 4096

    struct Identity: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modificationTime: Int
    }

    private var paths: [String: Identity?] = [:]
    private var scripts: [Identity: V8LineEnds] = [:]
    private(set) var endsHeld = 0

    /// The file path a script name stands for: the name itself when absolute, the path of a
    /// `file://` URL (percent-decoded); nil for `node:` modules, `eval` code and other URLs.
    static func path(ofScriptName name: String) -> String? {
        if name.hasPrefix("/") { return name }
        guard name.hasPrefix("file:///") else { return nil }
        var bytes: [UInt8] = []
        var utf8 = Array(name.utf8.dropFirst("file://".count))[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        // A NUL would cut the path short in open(2): no such script.
        guard !bytes.contains(0) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The 1-based line of `scriptOffset` in the script `scriptName` of a process whose files
    /// are under `root` ("" or `/proc/PID/root`); 0 when it has none. `statistics` counts the
    /// files read and refused.
    mutating func line(root: String, scriptName: String, scriptOffset: Int?,
                       statistics: inout SymbolizerStatistics) -> UInt32 {
        guard let scriptOffset, let path = Self.path(ofScriptName: scriptName) else { return 0 }
        let key = root + path
        let identity: Identity?
        if let known = paths[key] {
            identity = known
        } else {
            if paths.count >= Self.maximumPaths { paths.removeAll() }
            identity = load(path: key, statistics: &statistics)
            paths[key] = identity
        }
        guard let identity, let ends = scripts[identity], let line = ends.line(ofScriptOffset: scriptOffset) else { return 0 }
        return UInt32(clamping: line)
    }

    /// Opens `path` if it is a regular file and counts its line ends, unless a file of the
    /// same identity was counted already.
    private mutating func load(path: String, statistics: inout SymbolizerStatistics) -> Identity? {
        guard case .success(let file) = OpenFile.open(path) else {
            statistics.v8ScriptsRefused += 1
            return nil
        }
        let identity = Identity(device: file.device, inode: file.inode, size: file.size,
                                modificationTime: file.modificationTime)
        if scripts[identity] != nil { return identity }
        guard file.size <= Int64(Self.maximumFileSize), let bytes = file.readAll(limit: Self.maximumFileSize) else {
            statistics.v8ScriptsRefused += 1
            return nil
        }
        let ends = V8LineEnds(source: bytes)
        guard endsHeld + ends.ends.count <= Self.maximumEnds else {
            statistics.v8ScriptsRefused += 1
            return nil
        }
        endsHeld += ends.ends.count
        scripts[identity] = ends
        statistics.v8ScriptsRead += 1
        return identity
    }

    mutating func removeAll() {
        paths = [:]
        scripts = [:]
        endsHeld = 0
    }
}
