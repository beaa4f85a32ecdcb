#include <stdio.h>
#include <stdio_ext.h>
#include "ckstdio.h"

int ck_stdout_flush_failed(void) {
    int failed = fflush(stdout) != 0 || ferror(stdout);
    clearerr(stdout);
    return failed;
}

void ck_stdout_discard(void) {
    __fpurge(stdout);
}
