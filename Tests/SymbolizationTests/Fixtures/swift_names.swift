// Swift names for the demangling tests.
public struct TandemWidget {
    public var value: Int

    @inline(never)
    public func measure(factor: Int) -> Int { value * factor }
}

@inline(never)
public func tandemSwiftFunction(_ value: Int) -> Int { value &* 31 }
