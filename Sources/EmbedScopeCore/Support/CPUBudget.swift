import Foundation

/// How many threads EmbedScope runs: the CPUs this process may use, not the machine's.
///
/// `ProcessInfo.activeProcessorCount` counts the machine's online CPUs. Under `taskset`, a
/// container's CPU limit (`docker --cpus`, a Kubernetes limit) or a batch scheduler's cgroup it
/// overstates what the process gets, and the threads beyond that only take turns on the same
/// CPUs: the forward pass's helpers then spin on the core their caller needs (EfficientNet-Lite0
/// at batch 1 under `taskset -c 0`: 6.4 ms an image on 2 threads, 3.6 ms on 1). So the count is
/// the CPUs in the affinity mask (`Cpus_allowed_list` of /proc/self/status), capped by the cgroup
/// CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the tightest along the
/// cgroup's path, rounded up), at least 1. `EMBEDSCOPE_THREADS=N` (1…1024) sets it instead.
package enum CPUBudget {
    package static let environmentVariable = "EMBEDSCOPE_THREADS"

    /// Where the thread count came from (`embedscope info --system`).
    package struct Detail: Codable, Sendable, Equatable {
        /// The machine's online CPUs.
        package var online: Int
        /// CPUs in the affinity mask; nil where it cannot be read.
        package var affinity: Int?
        /// The cgroup CPU quota in CPUs (1.5 = 150 ms of CPU time per 100 ms); nil: none.
        package var quota: Double?
        /// `EMBEDSCOPE_THREADS` as set and accepted.
        package var environment: Int?
        /// `EMBEDSCOPE_THREADS` when set but not a whole number from 1 to 1024 (then ignored).
        package var environmentIgnored: String?
        /// The CPUs this process may use (online, affinity mask, quota), whatever
        /// `EMBEDSCOPE_THREADS` says: threads that spin while they wait never outnumber these.
        package var usable: Int
        /// What EmbedScope runs.
        package var threads: Int
    }

    /// This process's budget, read once.
    package static let current: Detail = {
        let env = ProcessInfo.processInfo.environment[environmentVariable]
        return resolve(online: ProcessInfo.processInfo.activeProcessorCount,
                       status: try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                       quota: cgroupQuota(read: { try? String(contentsOfFile: $0, encoding: .utf8) }),
                       environment: env)
    }()

    /// The thread count: `current.threads`.
    package static var threads: Int { current.threads }

    /// Threads that may spin while they wait (the forward pass's helpers): the thread count, but
    /// never more than the CPUs this process may use — `EMBEDSCOPE_THREADS` above them would have
    /// spinning threads take turns on the CPUs the work needs.
    package static var spinningThreads: Int { Swift.min(current.threads, current.usable) }

    /// The budget from what the system says (each part separately testable).
    package static func resolve(online: Int, status: String?, quota: Double?, environment: String?) -> Detail {
        let online = Swift.max(1, online)
        var affinity: Int? = nil
        if let status {
            for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
                affinity = CPUInfo.countCPUList(String(line.dropFirst("Cpus_allowed_list:".count)))
            }
        }
        var threads = Swift.min(online, affinity ?? online)
        if let q = quota, q > 0, q.isFinite { threads = Swift.min(threads, Swift.max(1, Int(q.rounded(.up)))) }
        let usable = Swift.max(1, threads)
        var accepted: Int? = nil, ignored: String? = nil
        if let environment {
            let text = environment.trimmingCharacters(in: .whitespaces)
            if let n = Int(text), (1...1024).contains(n) { accepted = n; threads = n } else { ignored = environment }
        }
        return Detail(online: online, affinity: affinity, quota: quota, environment: accepted, environmentIgnored: ignored,
                      usable: usable, threads: Swift.max(1, threads))
    }

    /// The tightest CPU quota on this process's cgroup path, in CPUs; nil when there is none (or
    /// no cgroup files to read). `read` returns a file's text or nil.
    package static func cgroupQuota(read: (String) -> String?) -> Double? {
        guard let membership = read("/proc/self/cgroup") else { return nil }
        var tightest: Double? = nil
        func take(_ q: Double?) { if let q { tightest = Swift.min(tightest ?? q, q) } }
        for line in membership.split(separator: "\n") {
            // "hierarchy-ID:controllers:path"; the path may itself hold colons.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ","), path = String(fields[2])
            if fields[0] == "0" && controllers.isEmpty {
                // cgroup v2: cpu.max in the process's group and each parent.
                for dir in ancestors("/sys/fs/cgroup", path) { take(read(dir + "/cpu.max").flatMap(quotaV2)) }
            } else if controllers.contains("cpu") {
                // cgroup v1: the cpu controller's mount, with the group's path or (inside a container's
                // namespace, where the path is the host's) at the mount's root.
                for mount in ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuacct,cpu", "/sys/fs/cgroup/cpu"] {
                    for dir in ancestors(mount, path) {
                        take(quotaV1(quota: read(dir + "/cpu.cfs_quota_us"), period: read(dir + "/cpu.cfs_period_us")))
                    }
                }
            }
        }
        return tightest
    }

    /// `root + path` and each of its parents up to `root` ("/a/b" → root/a/b, root/a, root).
    static func ancestors(_ root: String, _ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        if parts.contains("..") { return [root] }
        var out = [String]()
        while true {
            out.append(([root] + parts).joined(separator: "/"))
            if parts.isEmpty { break }
            parts.removeLast()
        }
        return out
    }

    /// cgroup v2 `cpu.max`: "max 100000" (no limit) or "150000 100000" (1.5 CPUs).
    package static func quotaV2(_ text: String) -> Double? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count >= 1, f[0] != "max", let quota = Double(f[0]), quota > 0 else { return nil }
        let period = f.count >= 2 ? Double(f[1]) ?? 100_000 : 100_000
        guard period > 0 else { return nil }
        return quota / period
    }

    /// cgroup v1: `cpu.cfs_quota_us` (−1: no limit) over `cpu.cfs_period_us`.
    package static func quotaV1(quota: String?, period: String?) -> Double? {
        guard let q = quota.flatMap({ Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }), q > 0,
              let p = period.flatMap({ Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }), p > 0 else { return nil }
        return q / p
    }

    /// One line for `info --system`.
    package static func describe(_ d: Detail) -> String {
        var why = [String]()
        why.append("\(d.online) online")
        if let a = d.affinity, a != d.online { why.append("\(a) in this process's affinity mask") }
        if let q = d.quota { why.append("cgroup CPU quota \((q * 100).rounded() / 100) CPUs") }
        var line = "threads: \(d.threads)"
        if let e = d.environment { line += " (\(environmentVariable)=\(e); " + why.joined(separator: ", ") + ")" }
        else { line += " (" + why.joined(separator: ", ") + "; set with \(environmentVariable)=N)" }
        if let ignored = d.environmentIgnored {
            line += "\nnote: \(environmentVariable)=\(ignored) is not a whole number from 1 to 1024; ignored"
        }
        return line
    }
}
