// The control-decoder fuzzer's seeds (scripts/fuzz-decoder.sh), written by SeedCorpus.swift.

func controlStream(_ records: [ControlRecord]) -> [UInt8] {
    var encoder = ControlEncoder()
    return records.flatMap { encoder.encode($0) }
}

/// Valid control streams: the header alone, then every record type (each runtime's process
/// record too), an unknown one, the largest table id, a negative bias and a mapping at the
/// top of the address space.
func controlSeeds() -> [[UInt8]] {
    let table = UnwindTableRecord(tableID: 1, device: 0x803, inode: 1234, table: (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37) })
    let mappings = UnwindMappings(pid: 4321, entries: [
        UnwindMapping(start: 0x5555_0000_1000, end: 0x5555_0002_0000, tableID: 1, bias: 0xFFFF_AAAB_0000_0000,
                      device: 0x803, inode: 1234),
        UnwindMapping(start: 0x7F00_0000_0000, end: 0x7F00_0020_0000, tableID: UInt32.max, bias: 0x1000,
                      device: 0x803, inode: 7),
        UnwindMapping(start: 0xFFFF_FFFF_FFFF_0000, end: 0xFFFF_FFFF_FFFF_FFFF, tableID: 2, bias: 0,
                      device: 1, inode: 1),
    ])
    let request = FileRequest(pid: 4321, start: 0x5555_0000_1000, end: 0x5555_0002_0000, device: 0x803, inode: 1234)
    let python = CPythonProcess(pid: 4321, pythonVersion: 0x030b, runtimeAddress: 0xa5b740, device: 0x803, inode: 1234)
    return [
        controlStream([.cpythonProcess(python), .unwindTable(table),
                       .cpythonProcess(CPythonProcess(pid: -1, pythonVersion: .max, runtimeAddress: .max, device: 0, inode: 0))]),
        ControlStream.magic + [UInt8(ControlStream.currentVersion)],
        controlStream([.unwindTable(table)]),
        controlStream([.unwindMappings(mappings)]),
        controlStream([.releaseUnwindTable(tableID: 1), .releaseUnwindTable(tableID: UInt32.max)]),
        controlStream([.fileRequest(request)]),
        controlStream([.unknown(type: 99, length: 5), .fileRequest(request)]),
        controlStream([.perlProcess(PerlProcess(pid: 4321, perlVersion: 0x052400, threadKeyAddress: 0x7f00_0040_1a28,
                                                device: 0x803, inode: 1234)),
                       .rubyProcess(RubyProcess(pid: 4321, rubyVersion: 0x0301, moduleSlotAddress: 0x7f00_003a_ea48,
                                                tlsOffset: 8, device: 0x803, inode: 1234)),
                       .rubyProcess(RubyProcess(pid: -1, rubyVersion: .max, moduleSlotAddress: .max, tlsOffset: .max,
                                                device: 0, inode: 0))]),
        controlStream([.phpProcess(PHPProcess(pid: 4321, phpVersion: 0x0802, executorGlobalsAddress: 0x5632_1a58_ae60,
                                              device: 0x803, inode: 1234)),
                       .phpProcess(PHPProcess(pid: -1, phpVersion: .max, executorGlobalsAddress: .max, device: .max,
                                              inode: .max)),
                       .phpProcess(PHPProcess(pid: 0, phpVersion: 0, executorGlobalsAddress: 0, device: 0, inode: 0))]),
        controlStream([.hotspotProcess(HotSpotProcess(pid: 4321, featureVersion: 17, codeCacheHeapsAddress: 0x7f12_3456_7890,
                                                      callStubReturnAddressAddress: 0x7f12_3456_78a0, device: 0x803, inode: 1234)),
                       .hotspotProcess(HotSpotProcess(pid: -1, featureVersion: .max, codeCacheHeapsAddress: .max,
                                                      callStubReturnAddressAddress: .max, device: .max, inode: .max))]),
        controlStream([.v8Process(V8Process(pid: 4321, v8Version: 0x0b03_00f4, v8Patch: 8, address: 0x5555_5a3c_1f80,
                                            device: 0x803, inode: 1234)),
                       .v8Process(V8Process(pid: -1, v8Version: .max, v8Patch: .max, address: .max, device: .max, inode: .max)),
                       .v8Process(V8Process(pid: 0, v8Version: 0, v8Patch: 0, address: 0, device: 0, inode: 0))]),
        controlStream([.beamProcess(BEAMProcess(pid: 4321, ertsMajor: 13, activeCodeIndexAddress: 0x5632_1a9f_ca44,
                                                rangesAddress: 0x5632_1a9f_c9e0, atomTableAddress: 0x5632_1aa3_30c0,
                                                normalExitAddress: 0x5632_1a9f_c4b0, schedulerDataAddress: 0x5632_1a9f_b8d0,
                                                schedulerCountAddress: 0x5632_1a9f_b908, frameLayoutAddress: 0x5632_1a9f_b918,
                                                dirtySchedulerDataAddress: 0x5632_1a9f_b8c8,
                                                dirtySchedulerCountAddress: 0x5632_1a9f_b8f8, device: 0x803, inode: 1234)),
                       .beamProcess(BEAMProcess(pid: -1, ertsMajor: .max, activeCodeIndexAddress: .max, rangesAddress: .max,
                                                atomTableAddress: .max, normalExitAddress: .max, schedulerDataAddress: .max,
                                                schedulerCountAddress: .max, frameLayoutAddress: .max, dirtySchedulerDataAddress: .max,
                                                dirtySchedulerCountAddress: .max, device: .max, inode: .max))]),
        controlStream([.unwindTable(table), .unwindMappings(mappings), .fileRequest(request),
                       .unwindMappings(UnwindMappings(pid: 4321, entries: [])), .releaseUnwindTable(tableID: 1)]),
    ]
}
