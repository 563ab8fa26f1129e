import Foundation
import Testing
@testable import UnwindTableCompiler
@testable import UnwindTableFormat

/// An -O2 -fomit-frame-pointer program that stops itself (SIGSTOP, inside libc) at the
/// bottom of a call chain main → dynamic (alloca: rbp-based CFA) → recurse ×6 → deepest.
private let stoppingWorkload = """
#include <alloca.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
volatile long sink;
__attribute__((noinline)) long deepest(long x) { raise(SIGSTOP); sink = x; return x + 1; }
__attribute__((noinline)) long recurse(int n) { /* no tail calls */ return n <= 0 ? deepest(n) * 3 : recurse(n - 1) * 2 + (long)sink; }
__attribute__((noinline)) long dynamic(int n) {
    char *p = alloca((size_t)n);
    memset(p, 1, (size_t)n);
    long result = recurse(5);
    return result + p[n - 1];
}
int main(int argc, char **argv) { (void)argv; printf("%ld\\n", dynamic(argc + 100)); return 0; }
"""

/// Runs a program under ptrace until it stops with SIGSTOP, then writes its registers
/// (rip rsp rbp, hex), its stack from rsp to the top of [stack], and its maps; kills it.
private let stackProbe = """
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execl(argv[2], argv[2], (char *)0);
        _exit(127);
    }
    int status;
    for (;;) {
        if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status)) return 3;
        if (WSTOPSIG(status) == SIGSTOP) break;
        ptrace(PTRACE_CONT, pid, 0, 0);
    }
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return 4;
    char path[4096], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "%s/maps", argv[1]);
    FILE *mapsOut = fopen(path, "w");
    unsigned long stackEnd = 0;
    while (fgets(line, sizeof line, maps)) {
        fputs(line, mapsOut);
        unsigned long start, end;
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &start, &end) == 2) stackEnd = end;
    }
    fclose(maps); fclose(mapsOut);
    if (stackEnd <= regs.rsp) return 5;
    size_t size = stackEnd - regs.rsp;
    char *stack = malloc(size);
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    if (mem < 0 || pread(mem, stack, size, (off_t)regs.rsp) != (ssize_t)size) return 6;
    snprintf(path, sizeof path, "%s/stack", argv[1]);
    FILE *stackOut = fopen(path, "w");
    fwrite(stack, 1, size, stackOut); fclose(stackOut);
    snprintf(path, sizeof path, "%s/registers", argv[1]);
    FILE *registers = fopen(path, "w");
    fprintf(registers, "%llx %llx %llx\\n", regs.rip, regs.rsp, regs.rbp);
    fclose(registers);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 0;
}
"""

private struct Mapping {
    var start: UInt64
    var end: UInt64
    var offset: UInt64
    var path: String
}

@Suite struct LiveUnwindTests {
    /// Walks a real stack of an -O2 -fomit-frame-pointer process, stopped inside libc, with
    /// compiled tables only (as the BPF unwinder will), and checks it reaches _start.
    @Test func stoppedOptimizedProcessUnwindsToItsRoot() throws {
        let directory = try ScratchDirectory()
        defer { directory.remove() }
        let workload = try compileC(stoppingWorkload, name: "stopping", flags: ["-O2", "-fomit-frame-pointer"], in: directory)
        let probe = try compileC(stackProbe, name: "probe", flags: ["-O2"], in: directory)
        _ = try runProgram(probe, [directory.path, workload])

        let registerFields = try String(contentsOfFile: directory.path + "/registers", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { UInt64($0, radix: 16) }
        try #require(registerFields.count == 3)
        let stack = try readFile(directory.path + "/stack")
        let stackBase = registerFields[1]
        var mappings: [Mapping] = []
        for line in try String(contentsOfFile: directory.path + "/maps", encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].contains("x"), fields[5].hasPrefix("/") else { continue }
            let range = fields[0].split(separator: "-")
            mappings.append(Mapping(start: UInt64(range[0], radix: 16)!, end: UInt64(range[1], radix: 16)!,
                                    offset: UInt64(fields[2], radix: 16)!, path: String(fields[5])))
        }
        var tables: [String: UnwindTable] = [:]
        for path in Set(mappings.map(\.path)) { tables[path] = try UnwindTable.compile(elfBytes: try readFile(path)) }

        func readStack(_ address: UInt64) throws -> UInt64 {
            try #require(address >= stackBase && address - stackBase + 8 <= UInt64(stack.count), "0x\(String(address, radix: 16)) is outside the stack")
            return littleEndian64(stack, at: Int(address - stackBase))
        }

        // The unwinder: registers rip, rsp, rbp; the caller's frame from each row.
        var pc = registerFields[0], sp = registerFields[1]
        var bp: UInt64? = registerFields[2]
        var frames: [(path: String, elfAddress: UInt64)] = []
        var reachedEnd = false
        for depth in 0..<64 {
            // Return addresses point after the call: look up the call itself.
            let lookup = depth == 0 ? pc : pc - 1
            let mapping = try #require(mappings.first { $0.start <= lookup && lookup < $0.end }, "0x\(String(pc, radix: 16)) is in no mapping")
            let table = try #require(tables[mapping.path])
            let address = try #require(table.elfAddress(fileOffset: lookup - mapping.start + mapping.offset))
            frames.append((mapping.path, address))
            let row = try #require(table.lookup(address: address), "no unwind row for \(mapping.path) 0x\(String(address, radix: 16))")
            let cfa: UInt64
            switch row.cfa {
            case .endOfStack:
                reachedEnd = true
                cfa = 0
            case .registerOffset(.rsp, let offset): cfa = sp + UInt64(offset)
            case .registerOffset(.rbp, let offset): cfa = try #require(bp, "rbp was lost") + UInt64(offset)
            case .pltExpression(let offset, let threshold): cfa = sp + UInt64(offset) + ((pc & 15) >= threshold ? 8 : 0)
            case .noInfo, .unsupported:
                Issue.record("\(mapping.path) 0x\(String(address, radix: 16)): \(row.cfa)")
                return
            }
            if reachedEnd { break }
            switch row.rbp {
            case .unchanged: break
            case .cfaOffset(let offset): bp = try readStack(UInt64(Int64(cfa) + Int64(offset)))
            case .undefined: bp = nil
            }
            pc = try readStack(cfa - 8)
            sp = cfa
        }
        #expect(reachedEnd, "the walk did not reach _start")

        // The workload's own frames, by symbol, in call order from the innermost.
        var names: [String] = []
        for frame in frames where frame.path == workload {
            for name in ["deepest", "recurse", "dynamic", "main", "_start"] {
                if let symbol = try functionSymbol(name, in: workload), (symbol.address..<symbol.address + symbol.size).contains(frame.elfAddress) {
                    names.append(name)
                }
            }
        }
        #expect(names == ["deepest"] + Array(repeating: "recurse", count: 6) + ["dynamic", "main", "_start"])
        // Through libc on both ends: raise() inside, __libc_start_main outside.
        #expect(frames.first?.path.contains("libc.so") == true)
        #expect(frames.filter { $0.path.contains("libc.so") }.count >= 3)

        // For contrast, frame pointers alone: follow the rbp chain while it stays on the stack.
        var framePointerFrames = 1
        var chain = registerFields[2]
        while chain >= stackBase, chain - stackBase + 16 <= UInt64(stack.count), framePointerFrames < 64 {
            framePointerFrames += 1
            let next = littleEndian64(stack, at: Int(chain - stackBase))
            guard next > chain else { break }
            chain = next
        }
        #expect(framePointerFrames < frames.count / 2, "frame pointers alone found \(framePointerFrames) of \(frames.count) frames")
    }
}
