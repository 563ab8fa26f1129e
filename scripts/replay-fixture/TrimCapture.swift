// Cuts a real capture down to a fixture small enough to commit: the same
// header, samples and statistics, the process and mapping records of the
// processes that have samples, and only the kernel symbols the kernel stacks
// need (for each address the symbol below it and the one after it, so that
// every lookup resolves as it did against the full table).
//
//   trim-capture INPUT OUTPUT [COMM]
//
// With COMM, only the samples (and CPython code records) of processes with that command
// name are kept.

import StreamDecoding
import WireFormat

#if canImport(Glibc)
import Glibc
#endif

func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { fatalError("cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return bytes
}

@main
enum TrimCapture {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 || arguments.count == 4 else {
            print("usage: trim-capture INPUT OUTPUT [COMM]")
            exit(2)
        }
        let onlyComm = arguments.count == 4 ? arguments[3] : nil
        var decoder = StreamDecoder()
        decoder.feed(readFile(arguments[1]))
        var records: [Record] = []
        while let record = try decoder.next() { records.append(record) }
        try decoder.finish()

        var commByPID: [Int32: String] = [:]
        for case .process(let process) in records { commByPID[process.pid] = process.comm }
        func wanted(_ pid: Int32) -> Bool { onlyComm == nil || commByPID[pid] == onlyComm }
        records.removeAll { record in
            if case .sample(let sample) = record { return !wanted(sample.pid) }
            if case .cpythonCode(let code) = record { return !wanted(code.pid) }
            return false
        }
        var sampledPIDs: Set<Int32> = []
        var kernelAddresses: Set<UInt64> = []
        var symbols: [KernelSymbol] = []
        for record in records {
            switch record {
            case .sample(let sample):
                sampledPIDs.insert(sample.pid)
                for (position, address) in sample.kernelStack.enumerated() {
                    kernelAddresses.insert(position == 0 ? address : address &- 1)
                }
            case .kernelSymbols(let chunk):
                symbols += chunk.symbols
            default:
                break
            }
        }
        symbols.sort { $0.address < $1.address }
        var kept: Set<Int> = []
        for address in kernelAddresses {
            // The last symbol at or below the address, and the one after it.
            var low = 0, high = symbols.count
            while low < high {
                let middle = (low + high) / 2
                if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
            }
            if low > 0 { kept.insert(low - 1) }
            if low < symbols.count { kept.insert(low) }
        }
        let trimmed = kept.sorted().map { symbols[$0] }

        guard case .header(let header) = records.first else { fatalError("no header") }
        var encoder = StreamEncoder(header: header)
        var wroteSymbols = false
        for record in records.dropFirst() {
            switch record {
            case .sample(let sample):
                encoder.appendSample(time: sample.time, pid: sample.pid, tid: sample.tid, cpu: sample.cpu,
                                     kernelStack: sample.kernelStack, userStack: sample.userStack, flags: sample.flags,
                                     cpythonFrames: sample.cpythonFrames, cpythonFlags: CPythonWalkFlags(rawValue: sample.interpreterFlags),
                                     threadName: ThreadName(sample.threadName),
                                     offCPUNanoseconds: sample.offCPUNanoseconds)
            case .kernelSymbols:
                if !wroteSymbols {
                    encoder.append(.kernelSymbols(KernelSymbols(symbols: trimmed)))
                    wroteSymbols = true
                }
            case .process(let process) where !sampledPIDs.contains(process.pid):
                break
            case .mappings(let mappings) where !sampledPIDs.contains(mappings.pid):
                break
            case .processExit(let exit) where !sampledPIDs.contains(exit.pid):
                break
            case .stackDefinition, .threadDefinition, .resetInterning, .header, .unknown:
                break
            default:
                encoder.append(record)
            }
        }
        let bytes = encoder.takeBytes()
        guard let file = fopen(arguments[2], "wb") else { fatalError("cannot create \(arguments[2])") }
        fwrite(bytes, 1, bytes.count, file)
        fclose(file)
        print("\(records.count) records -> \(bytes.count) bytes; \(symbols.count) -> \(trimmed.count) kernel symbols")
    }
}
