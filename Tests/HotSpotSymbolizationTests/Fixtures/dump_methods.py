#!/usr/bin/env python3
"""Copies, from a running JVM's memory, what the JVM walker copies for each compiled method
(bpf/hotspot.bpf.h): the ConstMethod header, the holder class's name Symbol, the method's
name Symbol, the source file Symbol and the compressed line number table. Methods are found
by walking the code heaps' blocks (CodeCache::_heaps) to each nmethod's Method *, with the
offsets of Sources/HotSpotLayouts' generated table: the fixture checks the table against a
live JVM as much as it feeds the decoder's tests.

Usage (root, or the JVM's owner with ptrace rights): dump_methods.py PID PREFIX > out.json
Only methods whose holder class name starts with PREFIX (e.g. tandem/fixture/) are dumped.
"""
import json
import re
import struct
import sys

LAYOUT_TABLE = __file__.rsplit("/Tests/", 1)[0] + "/Sources/HotSpotLayouts/HotSpotLayoutTable.swift"
SYMBOL_BOUND = 512
LINE_TABLE_BOUND = 1024


def layout(feature):
    text = open(LAYOUT_TABLE).read()
    for block in re.findall(r"HotSpotLayout\((.*?)\n        \)", text, re.S):
        fields = dict(re.findall(r"(\w+): (-?\d+)", block))
        if int(fields["featureVersion"]) == feature:
            return {k: int(v) for k, v in fields.items()}
    sys.exit(f"no layout for JDK {feature}")


class Memory:
    def __init__(self, pid):
        self.file = open(f"/proc/{pid}/mem", "rb")

    def read(self, address, count):
        self.file.seek(address)
        return self.file.read(count)

    def u64(self, address):
        return struct.unpack("<Q", self.read(address, 8))[0]

    def i32(self, address):
        return struct.unpack("<i", self.read(address, 4))[0]

    def u16(self, address):
        return struct.unpack("<H", self.read(address, 2))[0]

    def cstring(self, address, limit=128):
        data = self.read(address, limit)
        return data[: data.index(b"\0")].decode()


def library_base(pid):
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split()
        if len(parts) >= 6 and parts[5].endswith("/libjvm.so") and parts[2] == "00000000":
            return int(parts[0].split("-")[0], 16), parts[5]
    sys.exit("no libjvm.so in the process")


def dynamic_symbol(path, name):
    import subprocess
    for line in subprocess.run(["nm", "-D", path], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].split("@")[0] == name:
            return int(parts[0], 16)
    sys.exit(f"{path} exports no {name}")


def statics(memory, base, path, lay):
    table = memory.u64(base + dynamic_symbol(path, "gHotSpotVMStructs"))
    found = {}
    entry = table
    while True:
        type_name = memory.u64(entry + lay["structEntryTypeName"])
        if type_name == 0:
            return found
        field = memory.u64(entry + lay["structEntryFieldName"])
        if memory.i32(entry + lay["structEntryIsStatic"]) and field:
            found[memory.cstring(type_name) + "::" + memory.cstring(field)] = memory.u64(entry + lay["structEntryAddress"])
        entry += lay["structEntryStride"]


def symbol_copy(memory, lay, symbol):
    length = memory.u16(symbol + lay["symbolLength"])
    return memory.read(symbol, lay["symbolBody"] + min(length, SYMBOL_BOUND))


def symbol_text(copy, lay):
    length = struct.unpack_from("<H", copy, lay["symbolLength"])[0]
    return copy[lay["symbolBody"]: lay["symbolBody"] + length].decode("utf-8", "replace")


def main():
    pid, prefix = int(sys.argv[1]), sys.argv[2]
    base, path = library_base(pid)
    memory = Memory(pid)
    feature = int(re.search(r"/java-(\d+)-", path).group(1))
    lay = layout(feature)
    static = statics(memory, base, path, lay)
    heaps = memory.u64(static["CodeCache::_heaps"])
    count = memory.i32(heaps + lay["growableArrayLength"])
    data = memory.u64(heaps + lay["growableArrayData"])
    methods = {}
    nmethods = []
    for index in range(count):
        heap = memory.u64(data + 8 * index)
        low = memory.u64(heap + lay["codeHeapMemory"] + lay["virtualSpaceLow"])
        high = memory.u64(heap + lay["codeHeapMemory"] + lay["virtualSpaceHigh"])
        shift = memory.i32(heap + lay["codeHeapLog2SegmentSize"])
        block = low
        while block < high:
            segments = memory.u64(block)
            used = memory.read(block + 8, 1)[0]
            if segments == 0:
                break
            blob = block + lay["heapBlockSize"]
            if used and memory.cstring(memory.u64(blob + lay["codeBlobName"])) == "nmethod":
                method = memory.u64(blob + lay["compiledMethodMethod"])
                if method and method not in methods:
                    record = dump_method(memory, lay, method)
                    if symbol_text(bytes.fromhex(record["klassName"]), lay).startswith(prefix):
                        methods[method] = record
                if method in methods:
                    nmethods.append(dump_nmethod(memory, lay, blob, method))
            block += segments << shift
    names = {}
    for nmethod in nmethods:
        for entry in nmethod["metadata"]:
            names.setdefault(entry, metadata_name(memory, lay, int(entry, 16)))
    json.dump({"release": lay_release(), "methods": list(methods.values()), "nmethods": nmethods,
               "metadataNames": names}, sys.stdout, indent=1)


def dump_nmethod(memory, lay, blob, method):
    """An nmethod's inlining data as the walker will copy it: PcDescs, scopes data, metadata."""
    pcs = blob + memory.i32(blob + lay["nmethodScopesPCsOffset"])
    pcs_end = blob + memory.i32(blob + lay["nmethodDependenciesOffset"])
    scopes = memory.u64(blob + lay["compiledMethodScopesDataBegin"])
    metadata = blob + memory.i32(blob + lay["nmethodMetadataOffset"])
    return {
        "method": "%x" % method,
        "level": memory.i32(blob + lay["nmethodCompileLevel"]),
        "pcDescs": memory.read(pcs, pcs_end - pcs).hex(),
        "scopes": memory.read(scopes, pcs - scopes).hex(),
        "metadata": ["%x" % memory.u64(address) for address in range(metadata, scopes, 8)],
    }


def metadata_name(memory, lay, entry):
    """What a metadata entry is, for the test's truth: a Method's class.name, else "?" (a Klass)."""
    try:
        const_method = memory.u64(entry + lay["methodConstMethod"])
        pool = memory.u64(const_method + lay["constMethodConstants"])
        holder = memory.u64(pool + lay["constantPoolPoolHolder"])
        klass = symbol_text(memory.read(memory.u64(holder + lay["klassName"]), 300), lay)
        index = memory.u16(const_method + lay["constMethodNameIndex"])
        name = symbol_text(memory.read(memory.u64(pool + lay["constantPoolSize"] + 8 * index), 300), lay)
        return klass.replace("/", ".") + "." + name
    except (OSError, ValueError, struct.error):
        return "?"


def lay_release():
    text = open(LAYOUT_TABLE).read()
    return re.search(r'release: "([^"]+)"', text).group(1)


def dump_method(memory, lay, method):
    const_method = memory.u64(method + lay["methodConstMethod"])
    header = memory.read(const_method, lay["constMethodSize"])
    pool = struct.unpack_from("<Q", header, lay["constMethodConstants"])[0]
    name_index = struct.unpack_from("<H", header, lay["constMethodNameIndex"])[0]
    code_size = struct.unpack_from("<H", header, lay["constMethodCodeSize"])[0]
    flags = struct.unpack_from("<H", header, lay["constMethodFlags"])[0]
    entries = pool + lay["constantPoolSize"]
    holder = memory.u64(pool + lay["constantPoolPoolHolder"])
    source_index = memory.u16(pool + lay["constantPoolSourceFileNameIndex"])
    record = {
        "constMethod": header.hex(),
        "klassName": symbol_copy(memory, lay, memory.u64(holder + lay["klassName"])).hex(),
        "methodName": symbol_copy(memory, lay, memory.u64(entries + 8 * name_index)).hex(),
        "sourceFile": symbol_copy(memory, lay, memory.u64(entries + 8 * source_index)).hex() if source_index else "",
        "lineTable": "",
    }
    if flags & lay["constMethodHasLineNumberTable"]:
        # As the walker copies it: to the ConstMethod's end, at most the bound.
        start = lay["constMethodSize"] + code_size
        size_words = struct.unpack_from("<i", header, lay["constMethodSizeWords"])[0]
        record["lineTable"] = memory.read(const_method + start, max(0, min(LINE_TABLE_BOUND, size_words * 8 - start))).hex()
    return record


if __name__ == "__main__":
    main()
