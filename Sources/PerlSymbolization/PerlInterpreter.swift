import ELF
import PerlLayouts

/// A file that holds a Perl interpreter tandem can walk (`/usr/bin/perl` with libperl
/// linked in, or `libperl.so`): where its `PL_thr_key` is and which layout reads it.
public struct PerlInterpreter: Hashable, Sendable {
    public var version: PerlVersion
    /// `PL_thr_key`'s ELF virtual address (the process's address is this plus the file's
    /// load bias): the pthread key under which each thread keeps its interpreter.
    public var threadKeyAddress: UInt64
    /// The index of `version`'s layout in `PerlLayout.supported`: what control record 25 names.
    public var layoutIndex: Int

    public var layout: PerlLayout { PerlLayout.supported[layoutIndex] }

    public init(version: PerlVersion, threadKeyAddress: UInt64, layoutIndex: Int) {
        self.version = version
        self.threadKeyAddress = threadKeyAddress
        self.layoutIndex = layoutIndex
    }
}

/// What `PerlInterpreter.detect(in:)` found in a file.
public enum PerlInterpreterDetection: Hashable, Sendable {
    case interpreter(PerlInterpreter)
    /// No Perl in the file (most files): nothing to log.
    case notPerl
    /// A Perl tandem does not walk (unthreaded, 32-bit, a release without a layout): the
    /// reason, for a log line.
    case unsupported(reason: String)
}

extension PerlInterpreter {
    /// Every perl 5 has it: tells a perl from other files.
    private static let runSymbol = "perl_run"
    /// Threaded builds only: the key of each thread's interpreter.
    private static let threadKeySymbol = "PL_thr_key"
    /// `const U8` each (perlvars.h): the release.
    private static let versionSymbols = ["PL_revision", "PL_version", "PL_subversion"]

    /// Looks at `elf`'s symbols and the three version bytes they point to. Throws only when
    /// the file itself cannot be read.
    public static func detect(in elf: ELFFile) throws(ELFFileError) -> PerlInterpreterDetection {
        let symbols = try ELFNamedSymbols.values(of: Set([runSymbol, threadKeySymbol] + versionSymbols), in: elf)
        guard symbols[runSymbol] != nil else { return .notPerl }
        var parts: [UInt8] = []
        for name in versionSymbols {
            guard let address = symbols[name], let range = elf.fileRange(ofVirtualAddress: address), range.available >= 1
            else { return .unsupported(reason: "perl whose version the file does not say (no \(name))") }
            parts.append(try elf.source.bytes(at: range.offset, count: 1, place: name)[0])
        }
        let version = PerlVersion(revision: parts[0], version: parts[1], subversion: parts[2])
        guard let threadKeyAddress = symbols[threadKeySymbol] else {
            return .unsupported(reason: "perl \(version) built without threads (no PL_thr_key): only threaded builds are walked")
        }
        // The layouts are x86-64's (LP64): a 32-bit build's structs are laid out otherwise.
        guard elf.is64Bit else { return .unsupported(reason: "32-bit perl \(version): only 64-bit layouts are known") }
        guard let layoutIndex = PerlLayout.index(of: version) else {
            let supported = PerlLayout.supported.map(\.version.description).joined(separator: ", ")
            return .unsupported(reason: "perl \(version) has no layout here (\(supported) do): regenerate the table with scripts/perl-layouts.sh")
        }
        return .interpreter(PerlInterpreter(version: version, threadKeyAddress: threadKeyAddress, layoutIndex: layoutIndex))
    }
}
