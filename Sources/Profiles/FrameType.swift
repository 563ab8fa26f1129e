/// The runtime a stack frame belongs to.
///
/// The raw values are those of the OpenTelemetry semantic convention
/// `profile.frame.type`, which Elastic's `profilingmetrics` connector also uses
/// for its metric names (`samples.<type>.count`) and attributes.
public enum FrameType: String, Sendable, Hashable, CaseIterable, Codable {
    case native
    case kernel
    case jvm
    case cpython
    case go
    case v8js
    case php
    case perl
    case ruby
    case dotnet
    case rust
    case beam

    /// Compiled code named from its file's symbols (its lines, when known, come from
    /// the file's line table), as opposed to interpreted or JIT-compiled code.
    public var isMachineCode: Bool {
        switch self {
        case .native, .kernel, .go, .rust: true
        default: false
        }
    }
}
