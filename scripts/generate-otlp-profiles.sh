#!/usr/bin/env bash
# Regenerates Sources/OTLPProfilesProto from the OTLP profiles schema that the pinned
# PyPI opentelemetry-proto ships (its Python modules embed the serialized descriptors).
# The generated Swift is committed: CI neither builds the plugin nor runs this script.
#
# Needs: python3 with opentelemetry-proto at the version below, protoc (Debian's
# protobuf-compiler) and protoc-gen-swift of the swift-protobuf version Package.swift
# names: set PROTOC_GEN_SWIFT to it, or let the script build it (minutes) from the
# local package mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

OTLP_PROTO_VERSION=1.45.2      # keep equal to the pin in scripts/install-deps.sh
SWIFT_PROTOBUF_VERSION=1.39.0  # keep equal to Package.swift
OUT=Sources/OTLPProfilesProto
FILES=(
    opentelemetry/proto/common/v1/common.proto
    opentelemetry/proto/resource/v1/resource.proto
    opentelemetry/proto/profiles/v1development/profiles.proto
    opentelemetry/proto/collector/profiles/v1development/profiles_service.proto
)

installed=$(python3 -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')
if [ "$installed" != "$OTLP_PROTO_VERSION" ]; then
    echo "generate-otlp-profiles: python3 has opentelemetry-proto $installed, not $OTLP_PROTO_VERSION;" \
         "run: python3 -m pip install opentelemetry-proto==$OTLP_PROTO_VERSION" >&2
    exit 1
fi
command -v protoc >/dev/null || { echo "generate-otlp-profiles: no protoc; apt-get install protobuf-compiler" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${PROTOC_GEN_SWIFT:-}" ]; then
    git clone -q --branch "$SWIFT_PROTOBUF_VERSION" https://github.com/apple/swift-protobuf "$work/swift-protobuf"
    swift build --package-path "$work/swift-protobuf" --product protoc-gen-swift
    PROTOC_GEN_SWIFT="$work/swift-protobuf/.build/debug/protoc-gen-swift"
fi

# The descriptors as the Python classes hold them, dependencies first, as a FileDescriptorSet.
python3 scripts/otlp-descriptor-set.py opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 "$work/otlp-profiles.pb"

rm -f "$OUT"/*.pb.swift
mkdir -p "$OUT"
protoc --descriptor_set_in="$work/otlp-profiles.pb" \
    --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" \
    --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores \
    --swift_out="$OUT" "${FILES[@]}"
echo "generate-otlp-profiles: wrote $(ls "$OUT"/*.pb.swift | wc -l) files to $OUT from opentelemetry-proto $OTLP_PROTO_VERSION"
