#define _GNU_SOURCE
#include <pthread.h>
#include <errno.h>
#include <sys/resource.h>
#include "ckthreads.h"

int ck_set_default_thread_stack_size(size_t bytes) {
    pthread_attr_t attr;
    int status = pthread_attr_init(&attr);
    if (status != 0) return status;
    status = pthread_attr_setstacksize(&attr, bytes);
    if (status == 0) status = pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
    return status;
}

/* The probe's threads wait here until the caller has started as many as it can. */
struct ck_probe {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int released;
};

static void *ck_probe_wait(void *arg) {
    struct ck_probe *p = arg;
    pthread_mutex_lock(&p->mutex);
    while (!p->released) pthread_cond_wait(&p->cond, &p->mutex);
    pthread_mutex_unlock(&p->mutex);
    return NULL;
}

int ck_probe_threads(int count, int *error) {
    enum { max_count = 1024 };
    pthread_t threads[max_count];
    struct ck_probe p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    pthread_attr_t attr;
    *error = 0;
    if (count > max_count) count = max_count;
    if (count <= 0) return 0;
    int status = pthread_attr_init(&attr);
    if (status != 0) { *error = status; return 0; }
    /* Small stacks (under `ulimit -v` they count), but room for the static TLS: below that,
       pthread_create says EINVAL, and then the default size is used. */
    pthread_attr_setstacksize(&attr, 512 * 1024);
    pthread_attr_t *use = &attr;
    int started = 0;
    while (started < count) {
        status = pthread_create(&threads[started], use, ck_probe_wait, &p);
        if (status == EINVAL && use != NULL) { use = NULL; continue; }
        if (status != 0) { *error = status; break; }
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&p.mutex);
    p.released = 1;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.mutex);
    for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    return started;
}

long long ck_process_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return (long long)rl.rlim_cur;
}

struct ck_call { void (*body)(void *); void *context; };

static void *ck_call_body(void *arg) {
    struct ck_call *c = arg;
    c->body(c->context);
    return NULL;
}

int ck_run_on_thread(void (*body)(void *), void *context, size_t stack_bytes) {
    pthread_attr_t attr;
    int status = pthread_attr_init(&attr);
    if (status != 0) return status;
    status = pthread_attr_setstacksize(&attr, stack_bytes);
    struct ck_call call = { body, context };
    pthread_t thread;
    if (status == 0) status = pthread_create(&thread, &attr, ck_call_body, &call);
    pthread_attr_destroy(&attr);
    if (status != 0) return status;
    return pthread_join(thread, NULL);
}
