/// glibc's `makedev`: the `dev_t` encoding of a major and minor number, as `stat` and the
/// mappings records give a file's device.
public func makeDeviceNumber(major: UInt64, minor: UInt64) -> UInt64 {
    ((major & 0xfff) << 8) | ((major & ~0xfff) << 32) | (minor & 0xff) | ((minor & ~0xff) << 12)
}
