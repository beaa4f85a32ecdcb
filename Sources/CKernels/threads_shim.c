#define _GNU_SOURCE
#include <pthread.h>
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
