import CTandemBPF
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// A map of the loaded BPF object, written through its descriptor: no capability is needed
/// after start-up, the descriptor is the permission. Each walker's maps are a few of these.
package struct BPFObjectMap {
    package let name: String
    private let descriptor: Int32

    /// The map `name` of `object` (`bpf_object__find_map_by_name`).
    package init(_ object: OpaquePointer, _ name: String) throws(SystemCallError) {
        guard let map = bpf_object__find_map_by_name(object, name) else {
            throw SystemCallError("bpf_object__find_map_by_name(\(name))", errno: ENOENT)
        }
        self.name = name
        descriptor = bpf_map__fd(map)
    }

    /// `bpf_map_update_elem(BPF_ANY)`; false when the kernel refuses it (a full hash map).
    @discardableResult
    package func update<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, _ value: Value) -> Bool {
        withUnsafeBytes(of: key) { key in
            withUnsafeBytes(of: value) { value in
                bpf_map_update_elem(descriptor, key.baseAddress, value.baseAddress, UInt64(BPF_ANY)) == 0
            }
        }
    }

    /// `bpf_map_lookup_elem`; nil when the key is not there.
    package func lookup<Key: BitwiseCopyable, Value: BitwiseCopyable>(_ key: Key, as: Value.Type) -> Value? {
        withUnsafeBytes(of: key) { key in
            withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { value -> Value? in
                guard bpf_map_lookup_elem(descriptor, key.baseAddress, value.baseAddress) == 0 else { return nil }
                return value[0]
            }
        }
    }

    /// `bpf_map_delete_elem`; a key that is not there is no error.
    package func delete<Key: BitwiseCopyable>(_ key: Key) {
        _ = withUnsafeBytes(of: key) { bpf_map_delete_elem(descriptor, $0.baseAddress) }
    }

    /// Writes `values` at indexes 0, 1, ... of an array map (a walker's layouts, which its
    /// loader then names by index).
    package func fill<Value: BitwiseCopyable>(_ values: [Value]) throws(SystemCallError) {
        for (index, value) in values.enumerated() where !update(UInt32(index), value) {
            throw .last("bpf_map_update_elem(\(name), \(index))")
        }
    }
}
