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
}
