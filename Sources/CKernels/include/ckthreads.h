#ifndef CKTHREADS_H
#define CKTHREADS_H

#include <stddef.h>

/* glibc's pthread_setattr_default_np (a GNU extension Swift's Glibc module does not show): the
   stack size of every thread created from now on with default attributes (Foundation's Thread,
   libdispatch's workers, ours). 0 on success, else an errno value. */
int ck_set_default_thread_stack_size(size_t bytes);

/* Starts up to `count` threads (512 KiB stacks) that all stay alive until the last has started,
   then ends them: how many could be alive at once. Returns the number started; where it is less
   than `count`, `*error` is pthread_create's error (EAGAIN: the process / thread limit). */
int ck_probe_threads(int count, int *error);

/* RLIMIT_NPROC's soft limit (`ulimit -u`; a macro Swift does not see); -1: unlimited. */
long long ck_process_limit(void);

/* Runs body(context) on a new thread with a stack of `stack_bytes` and waits for it to end.
   0 when it ran; else pthread's error (the thread could not be started: body did not run). */
int ck_run_on_thread(void (*body)(void *), void *context, size_t stack_bytes);

#endif
