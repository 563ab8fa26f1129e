import Profiles
import ProfilingMetrics
import Testing

@Suite("shlib_name")
struct SharedLibraryNameTests {
    @Test("from the mapping's file name", arguments: [
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc"),
        ("/lib/x86_64-linux-gnu/libstdc++.so.6.0.33", "libstdc++"),
        ("/lib64/ld-linux-x86-64.so.2", "ld-linux-x86-64"),
        ("libm.so", "libm"),
        ("/usr/lib/libfoo.so.1.so.2", "libfoo.so.1"),
        ("/usr/lib/python3/dist-packages/_cffi_backend.cpython-311-x86_64-linux-gnu.so",
         "_cffi_backend.cpython-311-x86_64-linux-gnu"),
        ("/usr/bin/python3.11", nil),
        ("/usr/sbin/nginx", nil),
        // `(.+)` needs a character before `.so`; the expression then backs up to an earlier `/`.
        ("/tmp/.so", "tmp/"),
        ("", nil),
        // The expression does not stop at the last `/`: a `.so` in a directory name matches.
        ("/opt/app.so.d/bin/app", "app"),
    ] as [(String, String?)])
    func cases(path: String, expected: String?) {
        #expect(SharedLibraryName.of(path: path).map(String.init) == expected)
    }

    @Test("agrees with the regular expression on generated paths")
    func agreesWithRegex() throws {
        let regex = try Regex(#"(?:.*/)?(.+)\.so"#)
        let pieces = ["/", ".so", ".", "s", "o", "lib", "a", "\n", "é", "x.so.1", "//"]
        var generator = SplitMix64(seed: 42)
        for _ in 0..<5_000 {
            var path = ""
            for _ in 0..<Int(generator.next() % 7) { path += pieces[Int(generator.next() % UInt64(pieces.count))] }
            let expected = try regex.firstMatch(in: path).flatMap { $0.output[1].substring }.map(String.init)
            #expect(SharedLibraryName.of(path: path).map(String.init) == expected, "path: \(path.debugDescription)")
        }
    }
}

/// A small deterministic generator for the generated cases.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Frame classification")
struct FrameClassificationTests {
    @Test("Go: the package path", arguments: [
        ("runtime.gcDrain", "runtime"),
        ("github.com/x/y/prometheus.(*p).Run", "github.com/x/y/prometheus"),
        ("main.main", "main"),
        ("net/http.(*conn).serve", "net/http"),
        ("github.com/a/b.v2/c.F", "github.com/a/b.v2/c"),
        ("gopkg.in/yaml.v3.(*parser).parse", "gopkg.in/yaml"),
        ("example.com/m.F[example.com/t.T]", "example.com/m"),
        ("runtime", "runtime"),
    ])
    func go(name: String, expected: String) {
        #expect(FrameClassification.classify(functionName: name, type: .go) == expected)
    }

    @Test("JVM: package and class", arguments: [
        ("void sun.security.provider.DigestBase.engineUpdate(byte[])", "sun.security.provider.DigestBase"),
        ("java.lang.String.hashCode()", "java.lang.String"),
        ("int java.util.HashMap.hash(java.lang.Object)", "java.util.HashMap"),
        ("java.util.concurrent.ThreadPoolExecutor$Worker.run", "java.util.concurrent.ThreadPoolExecutor$Worker"),
        ("void Main.main(java.lang.String[])", "Main"),
        ("Interpreter", nil),
    ] as [(String, String?)])
    func jvm(name: String, expected: String?) {
        #expect(FrameClassification.classify(functionName: name, type: .jvm) == expected)
    }

    @Test("native: namespaces of demangled C++, Rust and Swift names", arguments: [
        // C++ ns::Class
        ("std::vector<int, std::allocator<int> >::push_back(int const&)", "std::vector"),
        ("v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace)", "v8::internal::Heap"),
        ("void std::sort<int*>(int*, int*)", "std"),
        ("ns::free_function()", "ns"),
        ("(anonymous namespace)::Worker::run()", "(anonymous namespace)::Worker"),
        ("std::__cxx11::basic_string<char>::_M_append[abi:cxx11](char const*, unsigned long)", "std::__cxx11::basic_string"),
        ("Foo::operator()(int) const", "Foo"),
        // Rust crate::module
        ("tokio::runtime::park::CachedParkThread::block_on", "tokio::runtime::park::CachedParkThread"),
        ("std::rt::lang_start::h0123456789abcdef", "std::rt"),
        ("std::rt::lang_start::{{closure}}", "std::rt"),
        ("core::ptr::drop_in_place<alloc::vec::Vec<u8>>", "core::ptr"),
        ("<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop", "alloc::vec::Vec"),
        // Swift Module.Type
        ("MyApp.Server.handle(request: MyApp.Request) -> ()", "MyApp.Server"),
        ("static MyApp.Server.main() -> ()", "MyApp.Server"),
        ("MyApp.run() -> ()", "MyApp"),
        ("MyApp.Cache.count.getter : Swift.Int", "MyApp.Cache"),
        ("closure #1 () -> () in MyApp.Server.start() -> ()", "MyApp.Server"),
        ("generic specialization <Swift.Int> of Swift.Array.append(__owned A) -> ()", "Swift.Array"),
        // An extension's module context is not part of the type's name (nor a closure's " in ").
        ("(extension in ELF):ELF.ELFByteSource.read(at: Swift.Int) throws -> Swift.Int", "ELF.ELFByteSource"),
        ("closure #1 (Swift.Int) -> () in (extension in Swift):Swift.MutableCollection.sort() -> ()",
         "Swift.MutableCollection"),
        // No namespace.
        ("main", nil), ("malloc", nil), ("__memcpy_avx_unaligned_erms", nil), ("foo.cold", nil),
        ("foo.part.0", nil), ("foo(int)", nil), ("foo(int) [clone .cold]", nil),
        // Neither an argument list nor an accessor: not a Swift function (found by the first scan).
        ("MyApp.Server.value", nil), ("merged MyApp.run", nil), ("static MyApp.Server.shared", nil),
    ] as [(String, String?)])
    func native(name: String, expected: String?) {
        #expect(FrameClassification.classify(functionName: name, type: .native) == expected)
    }

    @Test("Rust frames use the native rules; other runtimes are not classified")
    func otherTypes() {
        #expect(FrameClassification.classify(functionName: "tokio::task::spawn", type: .rust) == "tokio::task")
        #expect(FrameClassification.classify(functionName: "ns::f()", type: .kernel) == nil)
        #expect(FrameClassification.classify(functionName: "module.func", type: .cpython) == nil)
    }
}
