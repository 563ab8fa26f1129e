/// What the aggregator knows of the process a sample came from; it becomes the
/// resource of the metrics (`process.pid`, `process.executable.*`, `container.id`).
public struct ProcessIdentity: Hashable, Sendable {
    public var pid: Int32
    /// The kernel's short command name (`comm`, at most 15 bytes).
    public var comm: String
    /// Absolute path of the executable (from `/proc/PID/exe`), if known.
    public var executablePath: String?
    /// Container id parsed from the cgroup path, if the process is in a container.
    public var containerID: String?
    /// `k8s.pod.uid`: the Kubernetes pod's UID, when the cgroup path names the pod.
    public var podUID: String?
    /// `service.name`: the systemd service the process runs under, from the cgroup path,
    /// if it is in one (and not in a container).
    public var serviceName: String?

    public init(pid: Int32, comm: String, executablePath: String? = nil, containerID: String? = nil,
                podUID: String? = nil, serviceName: String? = nil) {
        self.pid = pid
        self.comm = comm
        self.executablePath = executablePath
        self.containerID = containerID
        self.podUID = podUID
        self.serviceName = serviceName
    }

    /// The base name of the executable, or `comm` when the path is unknown.
    public var executableName: String {
        guard let executablePath, let last = executablePath.split(separator: "/").last else { return comm }
        return String(last)
    }
}
