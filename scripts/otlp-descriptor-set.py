#!/usr/bin/env python3
"""Writes the protobuf descriptors an installed opentelemetry-proto module holds, with
their dependencies first, as one FileDescriptorSet that protoc reads with
--descriptor_set_in (the package ships Python classes, not .proto files).

  scripts/otlp-descriptor-set.py MODULE OUT
  e.g. scripts/otlp-descriptor-set.py opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 out.pb
"""
import importlib
import sys

from google.protobuf import descriptor_pb2


def main():
    module, out_path = sys.argv[1], sys.argv[2]
    descriptors = descriptor_pb2.FileDescriptorSet()
    seen = set()

    def add(file):
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(descriptors.file.add())

    add(importlib.import_module(module).DESCRIPTOR)
    with open(out_path, "wb") as out:
        out.write(descriptors.SerializeToString())


if __name__ == "__main__":
    main()
