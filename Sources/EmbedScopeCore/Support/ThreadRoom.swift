import CKernels
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starting under a process limit (`ulimit -u`, `RLIMIT_NPROC`, which counts every thread of
/// the user's processes; a container's pids limit) without hanging.
///
/// libdispatch retries a thread it cannot create for ever (`_dispatch_temporary_resource_shortage`:
/// sleep, retry), and it creates its first when a signal source starts. Measured before this
/// existed, as an ordinary user (the limit does not bind root): `ulimit -u 1` … `3; embedscope
/// metrics INDEX` never returned (gdb: the main thread in that loop, from `InterruptCleanup`'s
/// first signal source). So the command-line tools first check (`require`) that the threads a
/// command may run at once can be started — the probe starts them and ends them again — and
/// stop with `error: cannot start threads …` (exit 1) where they cannot.
///
/// The check is for the start: a limit reached later by other processes of the same user can
/// still make a command wait for a thread (as long as none is freed).
package enum ThreadRoom {
    /// Threads a command may run at once besides the main one: libdispatch's workers and manager,
    /// the forward pass's team and the build's pipeline thread, OpenBLAS's workers (started
    /// already when this runs, so not counted), and some room.
    package static var needed: Int { 2 * CPUBudget.threads + 4 }

    /// Throws `.resourceLimit` unless `count` more threads can be alive at once. Where neither
    /// limit can bind (`unbounded`) nothing is started: the probe's cost grows with the cores.
    package static func require(_ count: Int = needed) throws {
        if unbounded(room: count) { return }
        var error: Int32 = 0
        let started = Int(ck_probe_threads(Int32(clamping: count), &error))
        guard started < count, error != 0 else { return }
        let nproc = ck_process_limit()
        let limit = nproc >= 0 ? "the process limit (`ulimit -u` \(nproc)) or a container's pids limit" : "a container's pids limit"
        throw EmbedScopeError(
            .resourceLimit,
            "cannot start threads (\(String(cString: strerror(error)))): \(limit) leaves room for \(started) "
                + "of the \(count) this command may run at once",
            hint: "raise the limit (`ulimit -u`), or end other processes of this user")
    }

    /// Whether `room` more threads (and some slack) are known to fit: the process limit does not
    /// apply (root, or `ulimit -u` unlimited) and every pids cgroup from this process's up to
    /// the root is unlimited or has the room. Anything unread or unknown: false (then probe).
    package static func unbounded(room: Int, cgroupFile: String = "/proc/self/cgroup", cgroupRoot: String = "/sys/fs/cgroup") -> Bool {
        guard geteuid() == 0 || ck_process_limit() < 0 else { return false }
        guard let text = try? String(contentsOfFile: cgroupFile, encoding: .utf8) else { return false }
        let need = room + 16
        var checked = false
        for line in text.split(separator: "\n") {
            // "hierarchy:controllers:path"; v2's is "0::path", v1's pids line names the controller.
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let base: String
            if parts[0] == "0" && parts[1].isEmpty {
                let fm = FileManager.default
                if fm.fileExists(atPath: cgroupRoot + "/cgroup.controllers") { base = cgroupRoot }
                else if fm.fileExists(atPath: cgroupRoot + "/unified/cgroup.controllers") { base = cgroupRoot + "/unified" }
                else { continue }   // a v2 line with no v2 mount: v1 decides
            } else if parts[1].split(separator: ",").contains("pids") {
                base = cgroupRoot + "/pids"
            } else { continue }
            var path = String(parts[2])
            guard path.hasPrefix("/"), !path.contains("/../") else { return false }
            while true {
                let dir = base + (path == "/" ? "" : path)
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else { return false }
                if let max = try? String(contentsOfFile: dir + "/pids.max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                   max != "max" {
                    guard let limit = Int(max),
                          let current = (try? String(contentsOfFile: dir + "/pids.current", encoding: .utf8))
                              .flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                          limit - current >= need else { return false }
                }
                if path == "/" { break }
                path = (path as NSString).deletingLastPathComponent
                if path.isEmpty { path = "/" }
            }
            checked = true
        }
        return checked
    }
}
