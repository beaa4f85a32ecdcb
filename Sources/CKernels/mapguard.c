/* Read-only file mappings that survive their file being cut short (ckmapguard.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ckmapguard.h"

enum { FREE = 0, LIVE = 2 };

struct guarded {
    _Atomic uintptr_t begin, end; /* [begin, end) */
    _Atomic int state;            /* FREE or LIVE */
    _Atomic int faulted;
};

static struct guarded slots[CK_MAPGUARD_SLOTS];
static _Atomic int slots_used;  /* slots at or past this index were never LIVE */
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
static uintptr_t page_size;
static int installed; /* 1 installed, -1 failed; under `registry` */

/* Not a fault inside a guarded mapping: what would have happened without us. */
static void forward(int sig, siginfo_t *info, void *context) {
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler) {
        previous.sa_handler(sig);
        return;
    }
    /* The default action: restore it and raise; the signal is blocked while this handler runs,
       so it is delivered (and ends the process) as the handler returns. A faulting access would
       also fault again on its own. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    int saved = errno;
    /* Only a fault the kernel raised has an address: a SIGBUS sent by kill() (si_code <= 0) holds
       a pid and uid where si_addr would be, and is passed on. */
    uintptr_t a = (uintptr_t)info->si_addr;
    int n = info->si_code > 0 ? atomic_load_explicit(&slots_used, memory_order_acquire) : 0;
    for (int i = 0; i < n; i++) {
        struct guarded *g = &slots[i];
        if (atomic_load_explicit(&g->state, memory_order_acquire) != LIVE) continue;
        uintptr_t b = atomic_load_explicit(&g->begin, memory_order_relaxed);
        uintptr_t e = atomic_load_explicit(&g->end, memory_order_relaxed);
        if (a < b || a >= e) continue;
        /* Zero pages from the faulting page to the mapping's end: the access is retried and reads
           zeros, and so does every later access past the file's new end (one signal, not one per
           page). The owner sees `faulted` and discards what it read. */
        uintptr_t page = a & ~(page_size - 1);
        uintptr_t stop = (e + page_size - 1) & ~(page_size - 1);
        void *r = mmap((void *)page, stop - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (r == MAP_FAILED) break;
        atomic_store_explicit(&g->faulted, 1, memory_order_release);
        errno = saved;
        return;
    }
    errno = saved;
    forward(sig, info, context);
}

static int install(void) {
    if (installed) return installed;
    long ps = sysconf(_SC_PAGESIZE);
    page_size = ps > 0 ? (uintptr_t)ps : 4096;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    installed = sigaction(SIGBUS, &sa, &previous) == 0 ? 1 : -1;
    return installed;
}

int ck_mapguard_register(const void *base, size_t length) {
    if (!base || length == 0) return -1;
    pthread_mutex_lock(&registry);
    int slot = -1;
    if (install() == 1) {
        for (int i = 0; i < CK_MAPGUARD_SLOTS; i++) {
            if (atomic_load_explicit(&slots[i].state, memory_order_relaxed) != FREE) continue;
            struct guarded *g = &slots[i];
            atomic_store_explicit(&g->begin, (uintptr_t)base, memory_order_relaxed);
            atomic_store_explicit(&g->end, (uintptr_t)base + length, memory_order_relaxed);
            atomic_store_explicit(&g->faulted, 0, memory_order_relaxed);
            atomic_store_explicit(&g->state, LIVE, memory_order_release);
            if (i >= atomic_load_explicit(&slots_used, memory_order_relaxed))
                atomic_store_explicit(&slots_used, i + 1, memory_order_release);
            slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&registry);
    return slot;
}

void ck_mapguard_unregister(int slot) {
    if (slot < 0 || slot >= CK_MAPGUARD_SLOTS) return;
    pthread_mutex_lock(&registry);
    atomic_store_explicit(&slots[slot].state, FREE, memory_order_release);
    pthread_mutex_unlock(&registry);
}

int ck_mapguard_faulted(int slot) {
    if (slot < 0 || slot >= CK_MAPGUARD_SLOTS) return 0;
    return atomic_load_explicit(&slots[slot].faulted, memory_order_acquire);
}
