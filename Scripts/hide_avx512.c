// LD_PRELOAD shim for benchmarks: every CPUID the process executes reports no AVX-512 (and no
// AMX), so ONNX Runtime, PyTorch, numpy's OpenBLAS, FAISS and EmbedScope all pick the code paths
// they would run on a CPU with AVX2 + FMA and nothing wider (AMD Zen 2/3, Intel client cores).
// Built and used by `Scripts/bench_all.sh --hide-avx512`:
//
//   cc -O2 -shared -fPIC -o hide_avx512.so Scripts/hide_avx512.c
//   LD_PRELOAD=$PWD/hide_avx512.so COMMAND...
//
// How: Linux CPUID faulting (arch_prctl ARCH_SET_CPUID, the `cpuid_fault` CPU flag). With it on,
// CPUID raises SIGSEGV; the handler runs the real instruction with faulting briefly off, clears
// the AVX-512 / AMX feature bits (leaf 7; leaf 0xD's ZMM / tile state) and steps over it. The
// setting is per thread and inherited by threads and forks; exec resets it and the preload sets
// it again. The hardware is unchanged: /proc/cpuinfo still lists avx512f. A program that installs
// its own SIGSEGV handler later receives the faults and dies of them (clang and swift do: LLVM's
// crash reporter; so bench_all.sh builds before it preloads this; none of the benchmarked
// programs does).
// Not a test dependency: tests and CI never load it.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "x86-64 only"
#endif

static void real_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info;
    greg_t *g = ((ucontext_t *)context)->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (!(ip[0] == 0x0F && ip[1] == 0xA2)) {  // not CPUID: a real fault; let it happen again, unhandled
        signal(SIGSEGV, SIG_DFL);
        return;
    }
    uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX], r[4];
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    real_cpuid(leaf, sub, r);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        // EBX: AVX512F, DQ, IFMA, PF, ER, CD, BW, VL. ECX: VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ.
        // EDX: 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8.
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
    } else if (leaf == 7 && sub == 1) {
        r[0] &= ~(1u << 5);  // AVX512_BF16 (AVX-VNNI, a VEX encoding, stays)
    } else if (leaf == 0xD && sub == 0) {
        r[0] &= ~(0xE0u | 0x60000u);  // XSAVE-supported opmask / ZMM state and AMX tile state
    }
    g[REG_RAX] = r[0]; g[REG_RBX] = r[1]; g[REG_RCX] = r[2]; g[REG_RDX] = r[3];
    g[REG_RIP] += 2;
}

__attribute__((constructor)) static void hide_avx512_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        perror("hide_avx512: arch_prctl(ARCH_SET_CPUID, 0) (no `cpuid_fault` on this CPU?)");
        _exit(3);
    }
}
