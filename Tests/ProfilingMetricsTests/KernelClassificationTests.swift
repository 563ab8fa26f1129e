import Profiles
import ProfilingMetrics
import Testing

@Suite("Kernel classification")
struct KernelClassificationTests {
    /// Every function the reference lists (and real kernel functions the
    /// prefixes cover), with the class it must give on its own.
    static let singleNames: [(String, String?)] = [
        // 1. network/tcp/read
        ("tcp_recvmsg", "network/tcp/read"), ("tcp_recvmsg_locked", "network/tcp/read"),
        ("tcp_read", "network/tcp/read"), ("tcp_read_sock", "network/tcp/read"),
        ("tcp_rcv", "network/tcp/read"), ("tcp_rcv_established", "network/tcp/read"),
        ("tcp_v4_rcv", "network/tcp/read"), ("tcp_v6_rcv", "network/tcp/read"),
        // 2. network/tcp/write
        ("tcp_sendmsg", "network/tcp/write"), ("tcp_sendmsg_locked", "network/tcp/write"),
        ("tcp_transmit_skb", "network/tcp/write"), ("tcp_write_xmit", "network/tcp/write"),
        ("tcp_push", "network/tcp/write"), ("tcp_sendpage", "network/tcp/write"),
        // 3. network/udp/read
        ("udp_recvmsg", "network/udp/read"), ("udp_read_skb", "network/udp/read"), ("udp_rcv", "network/udp/read"),
        ("udp_v4_rcv", "network/udp/read"), ("udp_v6_rcv", "network/udp/read"),
        // 4. network/udp/write
        ("udp_sendmsg", "network/udp/write"), ("udp_write", "network/udp/write"),
        ("udp_push_pending_frames", "network/udp/write"), ("udp_sendpage", "network/udp/write"),
        // 5. ipc//read
        ("pipe_read", "ipc//read"), ("eventfd_read", "ipc//read"), ("unix_stream_read_generic", "ipc//read"),
        ("unix_stream_recvmsg", "ipc//read"), ("anon_pipe_read", "ipc//read"),
        // 6. ipc//write
        ("pipe_write", "ipc//write"), ("eventfd_write", "ipc//write"), ("unix_stream_sendmsg", "ipc//write"),
        ("anon_pipe_write", "ipc//write"),
        // 7. network/other/read
        ("sock_recvmsg", "network/other/read"), ("__sock_recvmsg", "network/other/read"),
        ("sock_read_iter", "network/other/read"),
        // 8. network/other/write
        ("sock_sendmsg", "network/other/write"), ("__sock_sendmsg", "network/other/write"),
        ("sock_write_iter", "network/other/write"),
        // 9. disk//read
        ("ext4_file_read_iter", "disk//read"), ("xfs_file_read_iter", "disk//read"),
        ("btrfs_file_read_iter", "disk//read"), ("filemap_read", "disk//read"),
        ("generic_file_read_iter", "disk//read"),
        // 10. disk//write
        ("ext4_file_write_iter", "disk//write"), ("xfs_file_write_iter", "disk//write"),
        ("btrfs_file_write_iter", "disk//write"), ("generic_file_write_iter", "disk//write"),
        ("writeback_sb_inodes", "disk//write"), ("ext4_buffered_write_iter", "disk//write"),
        ("ext4_dio_write_iter", "disk//write"), ("ext4_sync_file", "disk//write"), ("xfs_file_fsync", "disk//write"),
        ("btrfs_sync_file", "disk//write"), ("vfs_fsync_range", "disk//write"),
        // 11. memory: ^do_mmap, do_munmap, ^do_anonymous_page, mmap_, madvise, ^handle_mm_fault, ^alloc_pages, ^free_pages
        ("do_mmap", "memory"), ("do_munmap", "memory"), ("__do_munmap", "memory"), ("do_anonymous_page", "memory"),
        ("vm_mmap_pgoff", "memory"), ("mmap_region", "memory"), ("do_madvise", "memory"), ("madvise_vma_behavior", "memory"),
        ("handle_mm_fault", "memory"), ("alloc_pages_mpol", "memory"), ("free_pages_and_swap_cache", "memory"),
        // 12. synchronization: futex, ^schedule, __schedule, ^wake_up_, ^wake_q_
        ("futex_wait", "synchronization"), ("do_futex", "synchronization"), ("futex", "synchronization"),
        ("schedule", "synchronization"), ("schedule_hrtimeout_range", "synchronization"),
        ("__schedule", "synchronization"), ("foo__schedule", "synchronization"),
        ("wake_up_process", "synchronization"), ("wake_q_add", "synchronization"),
        // Anchored patterns do not match inside a name.
        ("x_tcp_recvmsg", nil), ("__do_mmap", nil), ("my_schedule", nil), ("x_handle_mm_fault", nil),
        ("__alloc_pages", nil), ("__wake_up_common", nil), ("my_pipe_read", nil), ("__ext4_file_read_iter", nil),
        // Nothing to match.
        ("copy_user_generic_string", nil), ("entry_SYSCALL_64_after_hwframe", nil), ("", nil),
    ]

    @Test("each function name on its own", arguments: singleNames)
    func single(name: String, expected: String?) {
        #expect(KernelClassifier.classify(functionNames: [name]).kernelClass == expected)
    }

    @Test("every table row is one class and the order is the reference's")
    func tableShape() {
        #expect(KernelClassifier.table.map(\.kernelClass) == [
            "network/tcp/read", "network/tcp/write", "network/udp/read", "network/udp/write", "ipc//read", "ipc//write",
            "network/other/read", "network/other/write", "disk//read", "disk//write", "memory", "synchronization",
        ])
    }

    @Test("the highest-priority class anywhere in the kernel frames wins", arguments: [
        (["schedule", "tcp_recvmsg"], "network/tcp/read"),
        (["tcp_recvmsg", "schedule"], "network/tcp/read"),
        (["tcp_sendmsg", "tcp_recvmsg"], "network/tcp/read"),
        (["futex_wait", "pipe_read"], "ipc//read"),
        (["handle_mm_fault", "futex_wait"], "memory"),
        (["sock_sendmsg", "udp_sendmsg"], "network/udp/write"),
        (["filemap_read", "ext4_file_write_iter"], "disk//read"),
        (["writeback_sb_inodes", "sock_read_iter"], "network/other/read"),
    ] as [([String], String)])
    func priority(names: [String], expected: String) {
        #expect(KernelClassifier.classify(functionNames: names).kernelClass == expected)
    }

    @Test("a system call entry gives syscall_name and stops the walk", arguments: [
        (["schedule", "__x64_sys_futex", "tcp_recvmsg"], "synchronization", "futex"),
        (["copy_page", "__arm64_sys_read", "tcp_recvmsg"], nil, "read"),
        (["pipe_write", "ksys_write", "__x64_sys_write"], "ipc//write", "write"),
        (["memset", "ksys_mmap_pgoff"], "memory", "mmap_pgoff"),
        (["__x64_sys_getpid"], nil, "getpid"),
        (["__x64_sys_exit_group"], nil, "exit_group"),
        (["schedule", "__x64_sys_epoll_wait.cold"], "synchronization", "epoll_wait"),
        (["__x64_sys_", "schedule"], "synchronization", nil),
        (["__ia32_sys_read", "schedule"], "synchronization", nil),
        (["x__x64_sys_read"], nil, nil),
    ] as [([String], String?, String?)])
    func syscallStop(names: [String], kernelClass: String?, syscall: String?) {
        let result = KernelClassifier.classify(functionNames: names)
        #expect(result.kernelClass == kernelClass)
        #expect(result.syscallName == syscall)
    }

    @Test("network/tcp/read under the write system call becomes network/tcp/write")
    func writeFlip() {
        #expect(KernelClassifier.classify(functionNames: ["tcp_recvmsg", "__x64_sys_write"])
                == KernelStackClassification(kernelClass: "network/tcp/write", syscallName: "write"))
        // Only `write` flips, and only the TCP read class.
        #expect(KernelClassifier.classify(functionNames: ["tcp_recvmsg", "__x64_sys_writev"]).kernelClass
                == "network/tcp/read")
        #expect(KernelClassifier.classify(functionNames: ["tcp_recvmsg", "__x64_sys_read"]).kernelClass
                == "network/tcp/read")
        #expect(KernelClassifier.classify(functionNames: ["udp_recvmsg", "__x64_sys_write"]).kernelClass
                == "network/udp/read")
    }

    @Test("frames without a symbol are skipped")
    func unnamed() {
        #expect(KernelClassifier.classify(functionNames: [nil, "tcp_v4_rcv", nil]).kernelClass == "network/tcp/read")
        #expect(KernelClassifier.classify(functionNames: [String?]()) == KernelStackClassification())
    }

    @Test("attributes: empty parts omitted, read/write direction in kernel_io", arguments: [
        (KernelStackClassification(kernelClass: "network/tcp/read", syscallName: "recvfrom"),
         [Attribute("kernel_area", "network"), Attribute("kernel_io", "read"), Attribute("kernel_proto", "tcp"),
          Attribute("syscall_name", "recvfrom")]),
        (KernelStackClassification(kernelClass: "ipc//read"),
         [Attribute("kernel_area", "ipc"), Attribute("kernel_io", "read")]),
        (KernelStackClassification(kernelClass: "disk//write"),
         [Attribute("kernel_area", "disk"), Attribute("kernel_io", "write")]),
        (KernelStackClassification(kernelClass: "memory"), [Attribute("kernel_area", "memory")]),
        (KernelStackClassification(kernelClass: "synchronization", syscallName: "futex"),
         [Attribute("kernel_area", "synchronization"), Attribute("syscall_name", "futex")]),
        (KernelStackClassification(syscallName: "getpid"), [Attribute("syscall_name", "getpid")]),
        (KernelStackClassification(), []),
    ])
    func attributes(classification: KernelStackClassification, expected: [Attribute]) {
        #expect(classification.attributes == expected)
    }
}

extension Attribute: CustomTestStringConvertible {
    public var testDescription: String {
        switch value {
        case .string(let text): return "\(key)=\(text)"
        case .int(let number): return "\(key)=\(number)"
        }
    }
}
