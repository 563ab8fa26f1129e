/// The processes that exited in this drain or the one before. A thread still runs in the
/// kernel after its exit event (its address space already gone), and a sample taken there
/// can follow the exit in the ring. Such a sample must not describe the process anew: the
/// read finds no mappings, and the entry would stay in the table with no exit to come.
/// Two drains cover the late samples; a pid seen later is a new process that reused it.
struct RecentExits {
    struct Exit {
        /// The exit event's time.
        var time: UInt64
        /// Whether the stream was told of it: the process had been described, or its exec reported.
        var reported: Bool
    }

    /// By pid: this drain's exits and the last one's.
    private var current: [Int32: Exit] = [:]
    private var previous: [Int32: Exit] = [:]

    mutating func note(_ pid: Int32, _ exit: Exit) {
        current[pid] = exit
    }

    /// An exec proves `pid` a live process again: one that reused the pid.
    mutating func forget(_ pid: Int32) {
        current[pid] = nil
        previous[pid] = nil
    }

    /// `pid`'s exit if it exited lately.
    func exit(of pid: Int32) -> Exit? {
        current[pid] ?? previous[pid]
    }

    /// Called before each drain: exits older than the last drain are forgotten.
    mutating func age() {
        swap(&current, &previous)
        current.removeAll(keepingCapacity: true)
    }
}
