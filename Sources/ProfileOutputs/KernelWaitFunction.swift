import Profiles

/// The kernel function a thread waited in: the caller of the scheduler in an off-CPU
/// stack (`do_nanosleep`, `futex_wait_queue`, `pipe_read`, `irqentry_exit_to_user_mode`
/// for a preemption), which says why it left the CPU where `__schedule` says nothing.
public enum KernelWaitFunction {
    /// The frame below the scheduler's own frames in `frames` (leaf first): the first
    /// kernel frame after the run of scheduler frames (`__schedule`, `schedule`,
    /// `schedule_timeout`, `io_schedule`, `preempt_schedule_irq`, ...) that starts at the
    /// innermost one. Frames leafward of the scheduler (the sampler's own BPF program on
    /// the switch) are skipped. Nil when no kernel frame is a scheduler frame.
    public static func name(in frames: [Frame]) -> String? {
        guard let first = frames.firstIndex(where: { $0.type == .kernel && isScheduler($0) }) else { return nil }
        var index = first
        while index < frames.count, frames[index].type == .kernel, isScheduler(frames[index]) { index += 1 }
        guard index < frames.count, frames[index].type == .kernel else { return nil }
        return frames[index].functionLabel
    }

    /// Whether `frame` is the scheduler's rather than its caller's.
    static func isScheduler(_ frame: Frame) -> Bool {
        guard let name = frame.functionName else { return false }
        let bare = name.drop { $0 == "_" }
        return bare == "schedule" || bare.hasPrefix("schedule_") || bare.hasPrefix("io_schedule")
            || bare.hasPrefix("preempt_schedule")
    }
}
