#ifndef CKTHREADS_H
#define CKTHREADS_H

#include <stddef.h>

/* glibc's pthread_setattr_default_np (a GNU extension Swift's Glibc module does not show): the
   stack size of every thread created from now on with default attributes (Foundation's Thread,
   libdispatch's workers, ours). 0 on success, else an errno value. */
int ck_set_default_thread_stack_size(size_t bytes);

#endif
