import Profiles

/// The `classification` attribute of `samples.classification`: the package
/// (Go), the class (JVM) or, as tandem's extensions, the namespace of a native
/// frame's demangled name (C++ `ns::Class`, Rust `crate::module`, Swift
/// `Module.Type`) and the module and class of a Python frame (`worker.Job`).
public enum FrameClassification {
    /// The classification of a frame of `type` running `functionName`, or `nil`.
    public static func classify(functionName: String, type: FrameType, sourceFile: String? = nil) -> String? {
        switch type {
        case .go: return goPackage(of: functionName)
        case .jvm: return jvmClass(of: functionName)
        case .native, .rust: return nativeNamespace(of: functionName)
        case .cpython: return sourceFile.flatMap { pythonScope(qualifiedName: functionName, file: $0) }
        default: return nil
        }
    }

    /// Python: the module, from the source file's name (`/srv/app/worker.py` gives `worker`; a
    /// package's `__init__.py` its directory's name), then the class of a method, from the
    /// qualified name: `Job.run` in worker.py gives `worker.Job`, `main` gives `worker`. A
    /// function or class defined inside a function (`f.<locals>.C.m`) is classed by what
    /// follows the last `<locals>`. `nil` for a frame without a file (`<string>` code has one).
    public static func pythonScope(qualifiedName: String, file: String) -> String? {
        let components = file.split(separator: "/")
        guard var module = components.last.map(String.init), !module.isEmpty else { return nil }
        if module.hasSuffix(".py") { module.removeLast(3) }
        if module == "__init__", components.count >= 2 { module = String(components[components.count - 2]) }
        var scopes = qualifiedName.split(separator: ".", omittingEmptySubsequences: false).dropLast()
        if let locals = scopes.lastIndex(of: "<locals>") { scopes = scopes[(locals + 1)...] }
        return scopes.isEmpty ? module : module + "." + scopes.joined(separator: ".")
    }

    /// Go: the package path, i.e. the text up to the first `.` after the last
    /// `/`: `runtime.gcDrain` gives `runtime`, `github.com/x/y/prometheus.(*p).Run`
    /// gives `github.com/x/y/prometheus`. A name without such a dot is its own
    /// package. Slashes inside type parameters (`pkg.F[example.com/t.T]`) are
    /// not taken for the package path's.
    public static func goPackage(of name: String) -> String? {
        guard !name.isEmpty else { return nil }
        let utf8 = name.utf8
        let head = utf8.firstIndex(of: UInt8(ascii: "[")) ?? utf8.endIndex
        let lastSlash = utf8[..<head].lastIndex(of: UInt8(ascii: "/"))
        let segmentStart = lastSlash.map { utf8.index(after: $0) } ?? utf8.startIndex
        guard let dot = utf8[segmentStart...].firstIndex(of: UInt8(ascii: ".")) else { return name }
        return String(name[..<dot])
    }

    /// JVM: `<package>.<Class>` with the return type, the method and the
    /// arguments stripped: `void sun.security.provider.DigestBase.engineUpdate(byte[])`
    /// gives `sun.security.provider.DigestBase`. A class in the default package
    /// gives just its name (not `.Name`). `nil` when no class can be told apart
    /// from the method.
    public static func jvmClass(of name: String) -> String? {
        var text = Substring(name)
        if let paren = text.firstIndex(of: "(") { text = text[..<paren] }
        while text.last == " " { text = text.dropLast() }
        if let space = text.lastIndex(of: " ") { text = text[text.index(after: space)...] }
        guard let dot = text.lastIndex(of: "."), dot > text.startIndex else { return nil }
        let qualifiedClass = text[..<dot]
        guard !qualifiedClass.hasSuffix(".") else { return nil }
        return String(qualifiedClass)
    }

    /// The namespace part of a demangled native name, or `nil` for a name
    /// without one (plain C functions, `foo.cold` clones).
    ///
    /// - C++ / Rust (`::` separators): the qualified name without template or
    ///   generic arguments, argument list, return type, Rust hash (`h0123…`)
    ///   and closure (`{{closure}}`) components, minus its last component (the
    ///   function): `std::vector<int>::push_back(int const&)` gives `std::vector`,
    ///   `tokio::runtime::park::CachedParkThread::block_on` gives
    ///   `tokio::runtime::park::CachedParkThread`. For `<T as Trait>::f` it is
    ///   `T`'s path.
    /// - Swift (`.` separators, with an argument list or a ` : ` accessor
    ///   type): `Module.Type.method(a: Swift.Int) -> ()` gives `Module.Type`;
    ///   `Module.Type.value.getter : Swift.Int` gives `Module.Type`.
    public static func nativeNamespace(of name: String) -> String? {
        if name.contains("::") { return colonNamespace(of: Substring(name)) }
        return swiftNamespace(of: Substring(name))
    }

    // MARK: C++ and Rust

    private static func colonNamespace(of name: Substring) -> String? {
        var components = splitTopLevel(name)
        // Rust: `<T as Trait>::method` classifies as T.
        if let first = components.first, first.hasPrefix("<") {
            let inner = first.dropFirst().dropLast(first.hasSuffix(">") ? 1 : 0)
            let selfType = inner.firstRange(of: " as ").map { inner[..<$0.lowerBound] } ?? inner
            let typeComponents = splitTopLevel(selfType).map(stripArguments).filter { !$0.isEmpty }
            return typeComponents.isEmpty ? nil : typeComponents.joined(separator: "::")
        }
        components = components.map(stripArguments)
        // A return type sits before the first component: `void ns::f`.
        if let first = components.first, let space = lastTopLevelSpace(in: first) {
            components[0] = first[first.index(after: space)...]
        }
        // Rust legacy hash and closures are not module names.
        if let last = components.last, isRustHash(last) { components.removeLast() }
        while let last = components.last, last.hasPrefix("{{") { components.removeLast() }
        components.removeAll { $0.isEmpty }
        guard components.count >= 2 else { return nil }
        return components.dropLast().joined(separator: "::")
    }

    /// Splits at `::` outside `<>`, `()`, `[]`, `{}`; stops at the argument list
    /// (a `(` that follows a name, not one that starts a component such as
    /// `(anonymous namespace)`).
    private static func splitTopLevel(_ text: Substring) -> [Substring] {
        var components: [Substring] = []
        var depth = 0
        var componentStart = text.startIndex
        var index = text.startIndex
        while index < text.endIndex {
            let c = text[index]
            switch c {
            case "<", "[", "{":
                depth += 1
            case "(":
                if depth == 0, index > componentStart {
                    components.append(text[componentStart..<index])
                    return components
                }
                depth += 1
            case ">", ")", "]", "}":
                // `operator->` and friends: never let depth go negative.
                if depth > 0 { depth -= 1 }
            case ":" where depth == 0:
                let next = text.index(after: index)
                if next < text.endIndex, text[next] == ":" {
                    components.append(text[componentStart..<index])
                    index = text.index(after: next)
                    componentStart = index
                    continue
                }
            default:
                break
            }
            index = text.index(after: index)
        }
        components.append(text[componentStart..<text.endIndex])
        return components
    }

    /// Removes `<...>` and `[...]` (template arguments, ABI tags) from one component.
    private static func stripArguments(_ component: Substring) -> Substring {
        guard component.contains(where: { $0 == "<" || $0 == "[" }) else { return component }
        if component.hasPrefix("{{") || component.hasPrefix("(") { return component }
        var result = ""
        var depth = 0
        for c in component {
            switch c {
            case "<", "[": depth += 1
            case ">", "]": if depth > 0 { depth -= 1 }
            default: if depth == 0 { result.append(c) }
            }
        }
        return Substring(result.trimmingSuffix(" "))
    }

    private static func lastTopLevelSpace(in text: Substring) -> String.Index? {
        var depth = 0
        var found: String.Index?
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case "<", "(", "[", "{": depth += 1
            case ">", ")", "]", "}": if depth > 0 { depth -= 1 }
            case " " where depth == 0: found = index
            default: break
            }
            index = text.index(after: index)
        }
        return found
    }

    private static func isRustHash(_ component: Substring) -> Bool {
        component.utf8.count == 17 && component.first == "h"
            && component.utf8.dropFirst().allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    // MARK: Swift

    private static let swiftPrefixes = ["static ", "@objc ", "merged ", "partial apply for ", "dispatch thunk of ",
                                        "@nonobjc ", "outlined copy of ", "outlined consume of "]
    private static let swiftAccessors: Set<Substring> = ["getter", "setter", "modify", "read", "didset", "willset",
                                                         "unsafeAddressor", "unsafeMutableAddressor", "_modify", "_read",
                                                         "init", "materializeForSet"]

    private static func swiftNamespace(of name: Substring) -> String? {
        // A Swift function name has an argument list or an accessor's ` : `; what follows
        // only ever keeps parts of the name, so a name with neither (a C symbol: most
        // native frames) is not one, found without the prefix and extension searches.
        guard name.utf8.contains(UInt8(ascii: "(")) || name.utf8.contains(UInt8(ascii: ":")) else { return nil }
        var text = withoutExtensionContexts(name)
        // Closures and specializations name their enclosing function after ` in ` / ` of `.
        var changed = true
        while changed {
            changed = false
            for prefix in swiftPrefixes where text.hasPrefix(prefix) {
                text = text.dropFirst(prefix.count)
                changed = true
            }
            if text.hasPrefix("closure #") || text.hasPrefix("implicit closure #"),
               let range = text.ranges(of: " in ").last {
                text = text[range.upperBound...]
                changed = true
            }
            if text.hasPrefix("generic specialization <") || text.hasPrefix("specialized "),
               let range = text.firstRange(of: " of ") {
                text = text[range.upperBound...]
                changed = true
            }
        }
        // The qualified name ends at the argument list or the accessor's ` : `.
        var end = text.endIndex
        var isAccessor = false
        if let paren = text.firstIndex(of: "(") { end = paren }
        if let colon = text.firstRange(of: " : "), colon.lowerBound < end {
            end = colon.lowerBound
            isAccessor = true
        }
        guard end < text.endIndex else { return nil }  // neither: not a Swift function name
        let qualified = stripArguments(text[..<end])
        guard !qualified.contains(" "), !qualified.contains("::") else { return nil }
        var components = qualified.split(separator: ".", omittingEmptySubsequences: false)
        guard !components.contains(where: \.isEmpty) else { return nil }
        if isAccessor, let last = components.last, swiftAccessors.contains(last) {
            components.removeLast()  // the accessor; the property is removed below
        }
        guard components.count >= 2 else { return nil }
        return components.dropLast().joined(separator: ".")
    }

    /// `name` without the `(extension in Module):` contexts the demangler puts before an
    /// extension's members: the type's own qualified name follows them.
    private static func withoutExtensionContexts(_ name: Substring) -> Substring {
        guard name.contains("(extension in ") else { return name }
        var result = ""
        var rest = name
        while let open = rest.firstRange(of: "(extension in "),
              let close = rest[open.upperBound...].firstRange(of: "):") {
            result += rest[..<open.lowerBound]
            rest = rest[close.upperBound...]
        }
        result += rest
        return Substring(result)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ character: Character) -> Substring {
        var text = Substring(self)
        while text.last == character { text = text.dropLast() }
        return text
    }
}
