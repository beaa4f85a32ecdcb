#include <stdio.h>
#include "ckstdio.h"

int ck_stdout_flush_failed(void) {
    int failed = fflush(stdout) != 0 || ferror(stdout);
    clearerr(stdout);
    return failed;
}
