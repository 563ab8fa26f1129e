import Profiles
@testable import ProfileOutputs

/// A small, known profile: two processes with native, kernel and unsymbolized
/// frames, a truncated stack, a name containing `;` and a sample without frames.
enum Fixture {
    static let spin = ProcessIdentity(pid: 100, comm: "spin", executablePath: "/usr/bin/spin")
    static let bash = ProcessIdentity(pid: 200, comm: "bash", executablePath: "/usr/bin/bash")
    static let idle = ProcessIdentity(pid: 0, comm: "swapper/0")

    static let libc = "/usr/lib/x86_64-linux-gnu/libc.so.6"
    static let spinMain = Frame(type: .native, address: 0x5555_0000_1100, functionName: "main",
                                mappingPath: "/usr/bin/spin", fileOffset: 0x1100)
    static let work = Frame(type: .native, address: 0x5555_0000_1200, functionName: "work",
                            mappingPath: "/usr/bin/spin", fileOffset: 0x1200)
    static let compute = Frame(type: .native, address: 0x5555_0000_1234, functionName: "compute",
                               mappingPath: "/usr/bin/spin", fileOffset: 0x1234)
    /// Another address in `compute`: the same function for every text output.
    static let computeLater = Frame(type: .native, address: 0x5555_0000_1240, functionName: "compute",
                                    mappingPath: "/usr/bin/spin", fileOffset: 0x1240)
    static let weird = Frame(type: .native, address: 0x5555_0000_1300, functionName: "weird;name",
                             mappingPath: "/usr/bin/spin", fileOffset: 0x1300)
    static let libcWrite = Frame(type: .native, address: 0x7f00_0000_2000, mappingPath: libc, fileOffset: 0x2000)
    static let sysWrite = Frame(type: .kernel, address: 0xffff_ffff_8100_1000, functionName: "__x64_sys_write")
    static let copyUser = Frame(type: .kernel, address: 0xffff_ffff_8100_2000, functionName: "copy_user_generic")
    static let bashMain = Frame(type: .native, address: 0x5600_0000_3000, functionName: "main",
                                mappingPath: "/usr/bin/bash", fileOffset: 0x3000)
    static let readline = Frame(type: .native, address: 0x5600_0000_4000, functionName: "readline",
                                mappingPath: "/usr/bin/bash", fileOffset: 0x4000)

    static func sample(_ process: ProcessIdentity, tid: Int32, weight: Int, _ frames: [Frame],
                       truncated: Bool = false, firstTime: UInt64 = 1_000) -> SymbolizedSample {
        SymbolizedSample(timestamps: (0..<weight).map { firstTime + UInt64($0) * 10 }, process: process,
                         threadID: tid, cpu: 0, frames: frames, userStackTruncated: truncated)
    }

    static var samples: [SymbolizedSample] {
        [
            sample(spin, tid: 100, weight: 3, [compute, work, spinMain]),
            sample(spin, tid: 101, weight: 1, [compute, work, spinMain]),
            sample(spin, tid: 101, weight: 1, [computeLater, work, spinMain]),
            sample(spin, tid: 100, weight: 1, [copyUser, sysWrite, libcWrite, work, spinMain]),
            sample(spin, tid: 100, weight: 1, [libcWrite, spinMain], truncated: true),
            sample(bash, tid: 200, weight: 4, [readline, bashMain], firstTime: 500),
            sample(spin, tid: 100, weight: 1, [weird, spinMain]),
            sample(idle, tid: 0, weight: 2, [], firstTime: 5_000),
        ]
    }

    static var aggregate: ProfileAggregate {
        var aggregate = ProfileAggregate()
        aggregate.add(contentsOf: samples)
        return aggregate
    }

    static let total: Int64 = 14
}
