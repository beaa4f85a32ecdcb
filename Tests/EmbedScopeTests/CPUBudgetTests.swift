import XCTest
import CKernels
import Foundation
@testable import EmbedScopeCore

/// The thread count is the CPUs this process may use, not the machine's: the affinity mask, a
/// cgroup CPU quota (v1 and v2, the tightest along the group's path, rounded up) and
/// `EMBEDSCOPE_THREADS`, from the texts Linux gives (here written out, so every case runs on any
/// machine).
final class CPUBudgetTests: XCTestCase {
    func testAffinityMaskCapsTheOnlineCPUs() {
        let status = "Name:\tembedscope\nCpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed_list:\t0\n"
        let d = CPUBudget.resolve(online: 64, status: status, quota: nil, environment: nil)
        XCTAssertEqual(d.affinity, 1)
        XCTAssertEqual(d.threads, 1)
        XCTAssertEqual(CPUBudget.resolve(online: 64, status: "Cpus_allowed_list:\t0-3,8-11\n", quota: nil, environment: nil).threads, 8)
        // Unreadable or malformed: the online count.
        XCTAssertEqual(CPUBudget.resolve(online: 4, status: nil, quota: nil, environment: nil).threads, 4)
        XCTAssertEqual(CPUBudget.resolve(online: 4, status: "Cpus_allowed_list:\tgarbage\n", quota: nil, environment: nil).threads, 4)
        XCTAssertEqual(CPUBudget.resolve(online: 0, status: nil, quota: nil, environment: nil).threads, 1)
    }

    func testQuotaRoundsUpAndNeverGivesZero() {
        XCTAssertEqual(CPUBudget.resolve(online: 64, status: nil, quota: 2, environment: nil).threads, 2)
        XCTAssertEqual(CPUBudget.resolve(online: 64, status: nil, quota: 1.5, environment: nil).threads, 2)
        XCTAssertEqual(CPUBudget.resolve(online: 64, status: nil, quota: 0.25, environment: nil).threads, 1)
        XCTAssertEqual(CPUBudget.resolve(online: 2, status: nil, quota: 8, environment: nil).threads, 2)
        XCTAssertEqual(CPUBudget.resolve(online: 64, status: "Cpus_allowed_list:\t0-5\n", quota: 3.2, environment: nil).threads, 4)
        XCTAssertEqual(CPUBudget.resolve(online: 8, status: nil, quota: .nan, environment: nil).threads, 8)
    }

    func testEnvironmentWinsWhenValidAndIsReportedWhenNot() {
        let set = CPUBudget.resolve(online: 2, status: nil, quota: 1, environment: " 6 ")
        XCTAssertEqual(set.threads, 6)
        XCTAssertEqual(set.usable, 1, "the CPUs themselves: spinning helpers stay within them")
        XCTAssertEqual(set.environment, 6)
        XCTAssertNil(set.environmentIgnored)
        for bad in ["0", "-1", "abc", "", "1025", "2.5", "99999999999999999999"] {
            let d = CPUBudget.resolve(online: 4, status: nil, quota: nil, environment: bad)
            XCTAssertEqual(d.threads, 4, bad)
            XCTAssertNil(d.environment, bad)
            XCTAssertEqual(d.environmentIgnored, bad)
            XCTAssertTrue(CPUBudget.describe(d).contains("ignored"), bad)
        }
    }

    func testCgroupFilesParse() {
        XCTAssertNil(CPUBudget.quotaV2("max 100000\n"))
        XCTAssertEqual(CPUBudget.quotaV2("150000 100000\n"), 1.5)
        XCTAssertEqual(CPUBudget.quotaV2("200000"), 2)
        XCTAssertNil(CPUBudget.quotaV2(""))
        XCTAssertNil(CPUBudget.quotaV2("100000 0"))
        XCTAssertNil(CPUBudget.quotaV1(quota: "-1\n", period: "100000\n"))
        XCTAssertEqual(CPUBudget.quotaV1(quota: "50000\n", period: "100000\n"), 0.5)
        XCTAssertNil(CPUBudget.quotaV1(quota: "50000", period: nil))
    }

    /// The tightest quota along the group's path (a parent's limit binds its children), cgroup v2
    /// and v1; no membership file or no limit anywhere: none.
    func testTightestQuotaAlongThePath() {
        let v2: [String: String] = [
            "/proc/self/cgroup": "0::/kubepods/pod1/c1\n",
            "/sys/fs/cgroup/kubepods/pod1/c1/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/cpu.max": "250000 100000\n",
            "/sys/fs/cgroup/kubepods/cpu.max": "800000 100000\n",
        ]
        XCTAssertEqual(CPUBudget.cgroupQuota(read: { v2[$0] }), 2.5)
        let v1: [String: String] = [
            "/proc/self/cgroup": "12:pids:/\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n",
            "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            // Inside the container's namespace the host path is not there; the mount's root is the group.
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        ]
        XCTAssertEqual(CPUBudget.cgroupQuota(read: { v1[$0] }), 2)
        XCTAssertNil(CPUBudget.cgroupQuota(read: { _ in nil }))
        XCTAssertNil(CPUBudget.cgroupQuota(read: { $0 == "/proc/self/cgroup" ? "0::/\n" : "max 100000\n" }))
        // A path climbing out of the root is not followed.
        var asked = [String]()
        _ = CPUBudget.cgroupQuota(read: { asked.append($0); return $0 == "/proc/self/cgroup" ? "0::/../../etc\n" : nil })
        XCTAssertFalse(asked.contains { $0.contains("..") || $0.contains("/etc") }, "\(asked)")
    }

    /// This process: what `info --system` reports is what the scans and the forward pass use.
    func testThisProcessIsConsistent() {
        let d = CPUBudget.current
        XCTAssertGreaterThanOrEqual(d.threads, 1)
        XCTAssertEqual(Scorer.defaultThreads, d.threads)
        XCTAssertEqual(CPUBudget.spinningThreads, min(d.threads, d.usable))
        if d.environment == nil {
            XCTAssertLessThanOrEqual(d.threads, d.online)
            if let a = d.affinity { XCTAssertLessThanOrEqual(d.threads, a) }
        }
        XCTAssertEqual(SystemInfo.collect().threads, d.threads)
        XCTAssertTrue(SystemInfo.collect().text.contains("threads: \(d.threads)"))
    }
}

/// `ThreadRoom.unbounded`: the start-up thread probe is skipped only where no pids cgroup level
/// and no process limit can bind.
final class ThreadRoomTests: XCTestCase {
    private func tree(_ files: [String: String]) throws -> URL {
        let root = try temporaryDirectory(self)
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return root
    }

    func testPidsLimitsAlongThePathDecide() throws {
        guard geteuid() == 0 || ck_process_limit() < 0 else { throw XCTSkip("a finite `ulimit -u` always probes") }
        let cases: [(String, [String: String], Bool)] = [
            ("v1, no limit anywhere", ["cg": "8:pids:/a/b\n4:memory:/x\n", "fs/pids/a/b/pids.max": "max\n", "fs/pids/a/pids.max": "max\n"], true),
            ("v1, an ancestor full", ["cg": "8:pids:/a/b\n", "fs/pids/a/b/pids.max": "max\n", "fs/pids/a/pids.max": "100\n", "fs/pids/a/pids.current": "95\n"], false),
            ("v1, room", ["cg": "8:pids:/a\n", "fs/pids/a/pids.max": "1000\n", "fs/pids/a/pids.current": "10\n"], true),
            ("v1, a limit without its count", ["cg": "8:pids:/a\n", "fs/pids/a/pids.max": "1000\n"], false),
            ("v1, the folder missing", ["cg": "8:pids:/gone\n", "fs/pids/other/pids.max": "max\n"], false),
            ("v2, tight", ["cg": "0::/s/t\n", "fs/cgroup.controllers": "pids\n", "fs/s/t/pids.max": "20\n", "fs/s/t/pids.current": "3\n"], false),
            ("v2, no pids files", ["cg": "0::/s/t\n", "fs/cgroup.controllers": "cpu\n", "fs/s/t/cpu.max": "max\n"], true),
            ("no pids controller at all", ["cg": "4:memory:/x\n", "fs/memory/x/memory.max": "1\n"], false),
            ("garbage", ["cg": "what\n", "fs/pids/pids.max": "max\n"], false),
            ("a path climbing out", ["cg": "8:pids:/a/../../etc\n", "fs/pids/a/pids.max": "max\n"], false),
        ]
        for (what, files, expected) in cases {
            let root = try tree(files)
            XCTAssertEqual(ThreadRoom.unbounded(room: 8, cgroupFile: root.appendingPathComponent("cg").path,
                                                cgroupRoot: root.appendingPathComponent("fs").path), expected, what)
        }
        XCTAssertFalse(ThreadRoom.unbounded(room: 8, cgroupFile: "/nonexistent/cgroup"))
    }
}
