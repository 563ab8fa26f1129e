#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a file is, from `st_mode`'s type bits (`S_IFMT`): the check before a path that
/// someone else controls is opened for I/O.
public enum FileType: Hashable, Sendable, CustomStringConvertible {
    case regular, directory, symbolicLink, fifo, characterDevice, blockDevice, socket
    /// Bits no case above names.
    case unknown(mode_t)

    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .unknown(mode & S_IFMT)
        }
    }

    /// In words for an error message: "a FIFO", "a character device", ...
    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case .unknown(let bits): "of unknown type \(String(bits, radix: 8))"
        }
    }
}
