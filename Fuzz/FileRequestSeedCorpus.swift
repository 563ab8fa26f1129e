// Writes seeds for the file-request fuzzer (scripts/fuzz-file-requests.sh):
//   file-request-seeds DIRECTORY
// One input per branch of `FileRequestAnswerer.answer`: passed files (plain, through links,
// `..`, hard link, mode 000), each request field one off, FIFO, directory, device, links out
// of the root, a replaced file, paths refused unread, no root, busy and rate-limited. Built
// with Fuzz/FileRequestFuzzInput.swift, so that each seed decodes to what it says.

#if canImport(Glibc)
import Glibc
#endif

typealias Input = FileRequestFuzzInput

/// A mapping of `path` in `process`'s root claiming `identity`, at page range `range`.
func known(_ path: TreePath, _ identity: NamedIdentity = .pathsOwn, in process: FakeProcess = .plainRoot,
           range: UInt8 = 0x10) -> Input.KnownMapping {
    Input.KnownMapping(process: process, path: .tree(path), identity: .named(identity), range: range)
}

/// Each mapping requested once, exactly, a millisecond apart.
func exactRequests(_ mappings: [Input.KnownMapping]) -> Input {
    Input(mappings: mappings, steps: mappings.indices.map {
        Input.Step(request: .copy(mapping: UInt8($0)), inFlight: 0, clock: .milliseconds(1))
    })
}

func fileRequestSeeds() -> [(name: String, input: Input)] {
    let library = known(.library)
    var seeds: [(String, Input)] = [
        ("library", exactRequests([library])),
        ("passed-shapes", exactRequests([
            known(.hardLink, range: 0x21), known(.throughLinkedDirectory, range: 0x32), known(.dotDot, range: 0x43),
            known(.aboveRoot, range: 0x54), known(.unreadable, range: 0x65), known(.library, in: .linkedRoot),
        ])),
        ("one-field-off", Input(mappings: [library], steps: Input.Field.allCases.map {
            Input.Step(request: .mutate(mapping: 0, field: $0, by: $0 == .pid ? 1 : 0x1000), inFlight: 0, clock: .same)
        })),
        ("not-regular", exactRequests([known(.fifo), known(.directory, range: 0x21), known(.device, range: 0x32)])),
        ("escapes", exactRequests([
            known(.absoluteEscape, .hostShadow), known(.absoluteEscape, .decoyShadow, range: 0x21),
            known(.relativeEscape, .outsideSecret, range: 0x32), known(.hostEscape, .outsideSecret, range: 0x43),
            known(.library, .otherProcessLibrary, range: 0x54),
        ])),
        ("swapped", exactRequests([known(.swapped, .swappedOriginal), known(.swapped, .swappedCurrent, range: 0x21)])),
        ("unopenable", exactRequests([
            known(.loop), known(.missing, .library, range: 0x21), known(.throughFile, range: 0x32),
            known(.trailingSlash, range: 0x43), known(.tooLong, range: 0x54), known(.embeddedNUL, range: 0x65),
        ])),
        ("refused-unread", exactRequests([
            known(.relative), known(.empty, range: 0x21), known(.pseudo, range: 0x32),
            known(.library, .zeroInode, range: 0x43), known(.library, .nextInode, range: 0x54),
            known(.library, .nextDevice, range: 0x65),
        ])),
        ("no-root", exactRequests([known(.library, in: .exited), known(.library, in: .rootNotDirectory)])),
        // The first exact match decides: a relative path ahead of an absolute one.
        ("first-match", exactRequests([known(.relative, .library), known(.library, .library)])),
        ("input-path", Input(mappings: [
            Input.KnownMapping(process: .plainRoot, path: .bytes(Array("/usr/./lib//libok.so".utf8)),
                               identity: .named(.library), range: 0x10),
        ], steps: [Input.Step(request: .copy(mapping: 0), inFlight: 0, clock: .same)])),
        ("busy", Input(mappings: [library], steps: [
            Input.Step(request: .copy(mapping: 0), inFlight: 16, clock: .same),
            Input.Step(request: .copy(mapping: 0), inFlight: 15, clock: .same),
            Input.Step(request: .copy(mapping: 0), inFlight: 255, clock: .same),
        ])),
        ("random", Input(mappings: [library], steps: [
            Input.Step(request: .random(pid: 100, start: 0x40_0000, end: 0x40_1000, device: 0, inode: 1), inFlight: 0, clock: .same),
        ])),
    ]
    // A bucket of two, refilled at one a second: two pass, two wait, then time refills it.
    let rateLimited = [Input.ClockStep.same, .same, .same, .milliseconds(200), .seconds(1), .same, .jump(.max)].map {
        Input.Step(request: .copy(mapping: 0), inFlight: 0, clock: $0)
    }
    seeds.append(("rate-limited", Input(mappings: [library], steps: rateLimited, maximumInFlight: 1, requestsPerSecond: 1, burst: 2)))
    return seeds
}

@main
enum FileRequestSeedCorpus {
    static func main() {
        guard CommandLine.arguments.count == 2 else {
            print("usage: file-request-seeds DIRECTORY")
            exit(2)
        }
        let directory = CommandLine.arguments[1]
        mkdir(directory, 0o755)
        let seeds = fileRequestSeeds()
        for (name, input) in seeds {
            let bytes = input.encoded()
            let decoded = bytes.withUnsafeBufferPointer { FileRequestFuzzInput(decoding: $0) }
            guard decoded == input else { fatalError("seed \(name) decodes to \(decoded)") }
            writeSeed(bytes, to: "\(directory)/\(name)")
        }
        print("wrote \(seeds.count) seeds to \(directory)")
    }
}
