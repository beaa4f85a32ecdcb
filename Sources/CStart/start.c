// Runs before every shared library's constructor (the executable's .preinit_array): under a
// limit that OpenBLAS's start-up cannot live with, starts the process again with
// OPENBLAS_NUM_THREADS=1, before OpenBLAS has run a line.
//
// OpenBLAS (Debian 12's 0.3.21) starts its worker threads in its library constructor, before
// `main`. Under a process or pids limit that leaves no room for them, `pthread_create` fails and
// OpenBLAS raises SIGINT (`blas_thread_init`); under an address-space limit a worker retries a
// 128 MiB mapping for ever (OpenMathLib/OpenBLAS#5289), and below ~150 MiB its thread cannot be
// started at all (SIGINT again). Nothing in `main` runs early enough, and setenv() here is not
// enough either: glibc's own initialisation, which runs after this, sets `environ` back to the
// block the kernel passed. So the process replaces itself (execve of /proc/self/exe, same
// arguments) with the variable set, once: the marker stops a second restart.
//
// Linked only into the command-line tools, never into the library: a library must not restart
// the program that uses it. Everything EmbedScope runs on its own threads is unchanged; OpenBLAS
// serves only LAPACK and the reference paths there.

#include "cstart.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MARKER "EMBEDSCOPE_ADDRESS_LIMIT_RESTART"

static const char *find(char **envp, const char *name) {
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/// A small file's first bytes, NUL-terminated; 0 when it cannot be read.
static int slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, buf, size - 1);
    close(fd);
    if (got <= 0) return 0;
    buf[got] = 0;
    return 1;
}

static long leading_number(const char *s, const char **end) {
    long v = 0;
    int any = 0;
    while (*s >= '0' && *s <= '9') { v = v * 10 + (*s - '0'); s++; any = 1; if (v > (1L << 50)) break; }
    if (end) *end = s;
    return any ? v : -1;
}

/// Whether a pids cgroup from `dir` up to `root` leaves fewer than `need` tasks.
static int pids_short(const char *root, const char *path, long need) {
    char dir[4096], buf[64];
    size_t rl = strlen(root), pl = strlen(path);
    if (rl + pl + 16 >= sizeof dir || path[0] != '/') return 0;
    memcpy(dir, root, rl);
    memcpy(dir + rl, path, pl + 1);
    for (;;) {
        size_t len = strlen(dir);
        while (len > rl + 1 && dir[len - 1] == '/') dir[--len] = 0;
        memcpy(dir + len, "/pids.max", 10);
        if (slurp(dir, buf, sizeof buf) && strncmp(buf, "max", 3) != 0) {
            long max = leading_number(buf, NULL);
            memcpy(dir + len, "/pids.current", 14);
            long cur = slurp(dir, buf, sizeof buf) ? leading_number(buf, NULL) : -1;
            if (max >= 0 && cur >= 0 && max - cur < need) return 1;
        }
        dir[len] = 0;
        if (len <= rl) return 0;
        char *slash = strrchr(dir + rl, '/');
        if (!slash) return 0;
        *slash = 0;
    }
}

/// Whether OpenBLAS's workers (one per CPU) might find no room: the process limit (`ulimit -u`,
/// which counts every thread of the user's, and does not bind root) is under the machine's whole
/// task count (`/proc/loadavg`, an upper bound of the user's), or a pids cgroup is nearly full.
static int threads_short(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long need = (cpus > 0 ? cpus : 1) + 16;
    struct rlimit rl;
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        char buf[256];
        long tasks = -1;
        if (slurp("/proc/loadavg", buf, sizeof buf)) {
            const char *slash = strchr(buf, '/');   // "0.12 0.30 0.25 2/345 6789": running/total
            if (slash) tasks = leading_number(slash + 1, NULL);
        }
        if (tasks < 0 || (rlim_t)(tasks + need) > rl.rlim_cur) return 1;
    }
    char text[4096];
    if (!slurp("/proc/self/cgroup", text, sizeof text)) return 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        // "hierarchy:controllers:path": v2's "0::/path", v1's pids line names its controller.
        char *c1 = strchr(line, ':');
        if (!c1) continue;
        char *c2 = strchr(c1 + 1, ':');
        if (!c2) continue;
        *c2 = 0;
        const char *controllers = c1 + 1, *path = c2 + 1;
        if (strcmp(line, "0:") == 0) {
            if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
                if (pids_short("/sys/fs/cgroup", path, need)) return 1;
            } else if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0) {
                if (pids_short("/sys/fs/cgroup/unified", path, need)) return 1;
            }
        } else if (strstr(controllers, "pids")) {
            if (pids_short("/sys/fs/cgroup/pids", path, need)) return 1;
        }
    }
    return 0;
}

/// `AddressSpace.mebibytes`' form: "146 MiB", "7.9 MiB".
static void mebibytes(char *out, size_t size, long bytes) {
    if (bytes >= (10L << 20)) snprintf(out, size, "%ld MiB", bytes >> 20);
    else snprintf(out, size, "%ld.%ld MiB", bytes >> 20, ((bytes & ((1L << 20) - 1)) * 10) >> 20);
}

static void fail(const char *text) {
    size_t n = strlen(text), done = 0;
    while (done < n) {
        ssize_t w = write(STDERR_FILENO, text + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    _exit(1);
}

/// What starting needs under an address-space limit (`AddressSpace.requireWorkingRoom`: 32 MiB and
/// 24 MiB of slack). Between here and `main` the Swift runtime and Foundation allocate, and with
/// nothing left they trap: within ~250 KB above what the loader needs, `info` ended by SIGILL with
/// nothing said, or by "failed to allocate" after `main`'s own message (red team). So the same
/// refusal is made here, before any of it.
#define WORKING_ROOM (56L << 20)
/// OpenBLAS's buffer a worker maps when it starts (Debian's 0.3.21 retries a failed one for ever).
#define OPENBLAS_BUFFER (128L << 20)

/// The bytes mapped now (`/proc/self/statm`'s first field); -1 when unknown.
static long mapped_now(void) {
    char buf[128];
    if (!slurp("/proc/self/statm", buf, sizeof buf)) return -1;
    long pages = leading_number(buf, NULL);
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/// The thread count the user gave OpenBLAS, as OpenBLAS reads it (the first positive one of
/// OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS; empty or 0 is none); 0: none.
static long user_threads(char **envp) {
    const char *names[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
    for (int i = 0; i < 3; i++) {
        const char *v = find(envp, names[i]);
        long n = v ? leading_number(v, NULL) : -1;
        if (n > 0) return n;
    }
    return 0;
}

static void cs_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    if (!argv || !envp) return;
    struct rlimit as;
    int limited = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
    long used = limited ? mapped_now() : -1;
    long room = used >= 0 && (rlim_t)used < as.rlim_cur ? (long)(as.rlim_cur - (rlim_t)used) : 0;
    if (limited && used >= 0 && room < WORKING_ROOM) {
        char need[32], lim[32], left[32], text[512];
        mebibytes(need, sizeof need, WORKING_ROOM);
        mebibytes(lim, sizeof lim, (long)as.rlim_cur);
        mebibytes(left, sizeof left, room);
        snprintf(text, sizeof text, "error: out of memory: starting (threads' stacks, the catalog, tables) needs %s more, and the "
                 "address-space limit (%s, `ulimit -v`) leaves %s\n  hint: raise the limit (`ulimit -v`), or work on fewer rows\n",
                 need, lim, left);
        fail(text);
    }
    if (find(envp, MARKER)) return;
    // A thread count the user set is respected as set — but where its workers' buffers cannot fit
    // under the limit OpenBLAS would retry their mapping for ever (a hang): said instead.
    long wanted = user_threads(envp);
    if (wanted > 1 && limited && used >= 0 && room < WORKING_ROOM + (wanted - 1) * OPENBLAS_BUFFER) {
        char lim[32], left[32], text[640];
        mebibytes(lim, sizeof lim, (long)as.rlim_cur);
        mebibytes(left, sizeof left, room);
        snprintf(text, sizeof text, "error: out of memory: OpenBLAS on %ld threads maps 128 MiB for each of its %ld worker%s when it "
                 "starts, and the address-space limit (%s, `ulimit -v`) leaves %s (OpenBLAS 0.3.21 would wait for that memory for ever)\n"
                 "  hint: unset OPENBLAS_NUM_THREADS / GOTO_NUM_THREADS / OMP_NUM_THREADS (embedscope then runs OpenBLAS on one "
                 "thread), set 1, or raise the limit\n", wanted, wanted - 1, wanted == 2 ? "" : "s", lim, left);
        fail(text);
    }
    if (wanted > 0) return;
    if (!limited && !threads_short()) return;

    // The marker's value: the limit in bytes (what the process saw), or why else it restarted.
    static char marker[80];
    if (limited) snprintf(marker, sizeof marker, MARKER "=%llu", (unsigned long long)as.rlim_cur);
    else snprintf(marker, sizeof marker, MARKER "=threads");
    // glibc gives each thread that allocates an arena of its own, 64 MiB of address space each,
    // mostly never touched; under an address-space limit they would crowd out the work.
    const char *tunables = find(envp, "GLIBC_TUNABLES");
    int arena = limited && !find(envp, "MALLOC_ARENA_MAX") && !(tunables && strstr(tunables, "arena_max"));

    size_t count = 0;
    while (envp[count]) count++;
    if (count > 1 << 20) return;
    char **env = alloca((count + 4) * sizeof *env);
    size_t n = 0;
    // An OPENBLAS_NUM_THREADS that names no count (empty, 0) would be found before ours: left out.
    for (size_t i = 0; i < count; i++)
        if (strncmp(envp[i], "OPENBLAS_NUM_THREADS=", 21) != 0) env[n++] = envp[i];
    static char threads[] = "OPENBLAS_NUM_THREADS=1", arenas[] = "MALLOC_ARENA_MAX=1";
    env[n++] = threads;
    if (arena) env[n++] = arenas;
    env[n++] = marker;
    env[n] = NULL;
    execve("/proc/self/exe", argv, env);
    // Still here (no /proc?): carry on as we are.
}

__attribute__((section(".preinit_array"), used))
static void (*const cs_preinit_entry)(int, char **, char **) = cs_preinit;
