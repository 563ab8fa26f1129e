import BEAMLoading
import CPythonLoading
import HotSpotLoading
import InterpreterLoading
import PerlLoading
import PHPLoading
import RubyLoading
import SystemCalls
import V8Loading

/// Every runtime whose frames the BPF program walks, each through its own loader; a new
/// runtime adds its line here (and its walker's object, bpf/<runtime>_walker.bpf.c, to
/// bpf/interpreters.bpf.h's dispatch).
package enum InterpreterRuntimes {
    /// The loaders of the BPF object `object`'s walkers; nil: interpreter frames are off,
    /// and each loader refuses every record.
    package static func loaders(object: OpaquePointer?) throws(SystemCallError) -> [any InterpreterLoader] {
        [try CPythonLoader(object: object), try PerlLoader(object: object), try RubyLoader(object: object),
         try PHPLoader(object: object), try V8Loader(object: object),
         try HotSpotLoader(object: object), try BEAMLoader(object: object)]
    }
}
