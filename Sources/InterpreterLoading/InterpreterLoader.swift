import WireFormat

/// The privileged half of one runtime's frame walker (docs/cpython.md is the model): it
/// checks the aggregator's records naming the runtime's processes before the BPF walker
/// reads a byte of them, and passes what the walker copied on, unparsed. The sampler
/// drives every runtime through this protocol, so a runtime adds no code to its core.
///
/// A loader made without its BPF maps (`--no-interpreter-frames`) refuses every record.
package protocol InterpreterLoader: AnyObject {
    /// The runtime's name in the stop log ("cpython").
    var name: String { get }
    /// The stack kind its frames are streamed as (two words a frame).
    var stackKind: StackKind { get }
    /// The ring-buffer kind of a sample with this runtime's frames, which starts with a
    /// `tandem_sample_event`; records shorter than `sampleEventSize` are malformed.
    var sampleEventKind: UInt32 { get }
    var sampleEventSize: Int { get }
    /// The ring-buffer kind of the walker's other records (code objects, methods), sent
    /// once per stream each; records shorter than `sideEventSize` are dropped.
    var sideEventKind: UInt32 { get }
    var sideEventSize: Int { get }
    /// The walker's BPF object among the embedded ones (`cpython_walker` for
    /// bpf/cpython_walker.bpf.c), which `WalkerPrograms` loads after the sampling program.
    var walkerObjectName: String { get }
    /// Its program's index in the sampling program's `interpreter_programs` (`enum tandem_runtime`).
    var walkerSlot: UInt32 { get }
    /// What the names of the runtime's usual executables contain ("python"): walkers of
    /// runtimes running at start load first.
    var executableNameHint: String { get }
    /// Why the last record was refused, for the stop log.
    var lastRejection: String? { get }

    /// Appends the frame words of a sample event of `sampleEventKind` to `words`; returns
    /// the walk's flags (bit 0: truncated).
    func appendFrameWords(of event: UnsafeRawBufferPointer, to words: inout [UInt64]) -> UInt32
    /// The stream record of a side event, when the stream is live; otherwise nil, and the
    /// walker is told to send it again.
    func sideRecord(_ event: UnsafeRawBufferPointer, streamIsLive: Bool) -> Record?
    /// Applies `record` when it is this runtime's and returns true; false leaves it to
    /// others. `mappings` gives the sampler's own view of a pid's mappings (nil: unknown).
    func apply(_ record: ControlRecord, mappings: (Int32) -> [Mapping]?) -> Bool
    /// The process exited or exec'd: its runtime is gone.
    func remove(pid: Int32)
    /// A new stream starts: every process is forgotten (the new aggregator names its own)
    /// and every side record is sent again.
    func beginStream()
    /// Adds the runtime's counters to a statistics record; `counter` reads the BPF side's
    /// by index (each runtime's header numbers its own, bpf/tandem_interpreters.h).
    func addStatistics(to values: inout StatisticsCounters, counter: (UInt32) -> UInt64)
    /// The stop log's line of counters.
    func summary(_ statistics: SamplerStatistics) -> String
}
