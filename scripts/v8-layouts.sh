#!/usr/bin/env bash
# Regenerates the V8 layout table (bpf/tandem_v8_layout.h, Sources/V8Layouts/V8Layout.swift,
# Sources/V8Layouts/V8LayoutTable.swift, the sampler's C-struct mapping
# Sources/V8Loading/V8LayoutMapping.swift) and the aggregator's bytecode sizes
# (Sources/V8Symbolization/V8BytecodeSizes.swift) from the postmortem metadata (v8dbg_*
# symbols), the V8 version symbols and `Bytecodes::kBytecodeSizes` of each Node executable in
# NODES, read from the file, never from a
# running process. The generated files are committed: builds neither need Node nor run this.
# scripts/v8-layouts/walk_node.py checks a table against a live node process.
#
# Needs: python3, nm (binutils); the Node executables below (default: Debian's /usr/bin/node).
set -euo pipefail
cd "$(dirname "$0")/.."
# One per supported V8 build, in table order (the layout index).
NODES=(${NODES:-/usr/bin/node})
python3 scripts/v8-layouts/generate.py "$PWD" "${NODES[@]}"
echo "v8-layouts: wrote bpf/tandem_v8_layout.h, Sources/V8Layouts/V8Layout.swift, V8LayoutTable.swift, Sources/V8Symbolization/V8BytecodeSizes.swift, Sources/V8Loading/V8LayoutMapping.swift" >&2
