#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "ckfs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

// Through syscall(2), not glibc's wrapper: the same on every glibc (the wrapper came in 2.28).
static int rename2(const char *from, const char *to, unsigned flags) {
#if defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
#else
    (void)from; (void)to; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int ck_rename_noreplace(const char *from, const char *to) { return rename2(from, to, RENAME_NOREPLACE); }

int ck_rename_exchange(const char *a, const char *b) { return rename2(a, b, RENAME_EXCHANGE); }
